"""planner/llm_narrate.py: the report's narrative from the LLM, against the scripted stub."""
from parser.schema import NarrativeRecord
from planner.llm_narrate import narrate
from tests.llm_tasks import decide, new_study, PARAGRAPH, session
from tests.stub_openai import StubServer, ok
from trajectory.report import rebuild, write_reports


def test_the_narrative_is_logged_and_shown_labelled_in_every_report(tmp_path):
    study = new_study(tmp_path)
    decide(study)
    study.stop("every prediction is decided", "now")
    with StubServer(ok({"paragraph": PARAGRAPH})) as stub:
        record = narrate(session(stub), study, "every prediction is decided")
    assert isinstance(record, NarrativeRecord) and record.text == PARAGRAPH
    prompt = stub.requests[0]["messages"][1]["content"]
    assert "p1 [confirmed" in prompt and "pairs" in prompt and "every prediction is decided" in prompt
    write_reports(study)
    run = tmp_path / "run"
    md = (run / "report.md").read_text()
    assert "**Summary written by the LLM**" in md and "Pre\\-norm lowered the validation loss" in md
    assert "LLM use: 1 calls, 120 tokens in all." in md
    assert "Summary written by the LLM" in (run / "report.tex").read_text()
    assert PARAGRAPH.split(",")[0] in (run / "narrative.md").read_text().replace("\\", "")
    page = (run / "dashboard.html").read_text()
    assert PARAGRAPH in page and 'id="narrative"' in page
    study.close()
    rebuild(run)  # the log alone gives the same report
    assert (run / "report.md").read_text() == md


def test_a_hostile_narrative_is_escaped_in_markdown_latex_and_html(tmp_path):
    evil = ("<script>alert(1)</script> see [here](http://evil.example) ![x](file:///etc/passwd) "
            "\\input{/etc/passwd} $\\x$ and the study is a success everywhere.")
    study = new_study(tmp_path)
    decide(study)
    study.stop("done", "now")
    with StubServer(ok({"paragraph": evil})) as stub:
        narrate(session(stub), study, "done")
    write_reports(study)
    run = tmp_path / "run"
    md, tex, page = ((run / f).read_text() for f in ("report.md", "report.tex", "dashboard.html"))
    assert "<script>" not in md and "&lt;script&gt;" in md and "](http" not in md and "![x]" not in md
    assert "\\input{" not in tex and "\\textbackslash{}input\\{/etc/passwd\\}" in tex
    assert "<script>alert" not in page


def test_without_an_llm_or_with_a_failing_one_there_is_no_narrative(tmp_path):
    offline = new_study(tmp_path / "a")
    decide(offline)
    assert narrate(None, offline, "done") is None
    write_reports(offline)
    md = (tmp_path / "a" / "run" / "report.md").read_text()
    assert "LLM" not in md and not (tmp_path / "a" / "run" / "narrative.md").exists()
    failing = new_study(tmp_path / "b")
    decide(failing)
    with StubServer(ok({"paragraph": ""}), ok({"text": PARAGRAPH})) as stub:
        record = narrate(session(stub), failing, "done")
    write_reports(failing)
    md = (tmp_path / "b" / "run" / "report.md").read_text()
    assert record.text == "" and "invalid after one repair" in record.llm.reason
    assert "Summary written by the LLM" not in md and "No narrative: invalid after one repair" in md


def test_a_narrative_older_than_the_last_run_is_not_shown(tmp_path):
    study = new_study(tmp_path)
    decide(study)
    with StubServer(ok({"paragraph": PARAGRAPH})) as stub:
        narrate(session(stub), study, "done")
    decide(study)  # a resumed session ran more
    write_reports(study)
    assert PARAGRAPH not in (tmp_path / "run" / "report.md").read_text()


