"""planner/llm.py's Session: every LLM task's tokens and budget, in the log and the report."""
import json
from pathlib import Path

import loop
from parser import log
from parser.metrics import to_record
from parser.schema import EvolutionRecord, LLMInfo, NarrativeRecord
from planner.llm import Session
from planner.llm_evolve import attach
from tests.llm_tasks import decide, hypothesis_file, new_study, PARAGRAPH, refine, session, SPEC, study_argv, UNREADABLE
from tests.stub_openai import StubServer, by_task, ok


def test_a_runs_log_record_carries_the_planners_llm_info():
    from executor.base import RunResult
    from run_config import TrainConfig, to_dict

    config = to_dict(TrainConfig(experiment_id="exp_0001"))
    result = RunResult(experiment_id="exp_0001", status="failed", returncode=1, wall_time_s=1.0,
                       metrics_path=Path("/nonexistent"), error="boom", stderr_tail="boom")
    info = {"status": "replaced", "reason": "invalid after one repair: x", "tokens": 240, "study_tokens": 900,
            "calls": 5}
    record = to_record(result, config, {"planner": "offline-fallback", "llm": info}, "now")
    assert record.llm == LLMInfo(**info)
    assert json.loads(record.model_dump_json())["llm"]["study_tokens"] == 900


def test_a_resumed_study_continues_the_token_count_and_the_budget(tmp_path):
    study = new_study(tmp_path)
    with StubServer(ok(refine(0.1), 400, 100)) as stub:
        attach(session(stub), study)
        decide(study)
    again = Session(None, max_tokens=600)
    attach(again, study)
    assert (again.usage.total, again.usage.calls) == (500, 1) and not again.blocked()
    again.usage.prompt_tokens += 100
    assert again.blocked() == "token budget spent (600 of 600)"


def test_a_whole_study_with_every_llm_task_accounts_for_them_in_the_log_and_report(tmp_path):
    path, out = hypothesis_file(tmp_path, [UNREADABLE]), tmp_path / "run"
    replies = by_task(prediction_spec=ok(SPEC), evolution=ok(refine(0.1, condition=SPEC["condition"])),
                      narrative=ok({"paragraph": PARAGRAPH}),
                      proposal=ok({"candidate": 0, "config": None, "seed": None, "targets": [], "rationale": "r"}))
    with StubServer(default=replies) as stub:
        assert loop.main(study_argv(path, out, "--max-experiments", "12", "--llm-base-url", stub.url, "--quiet")) == 0
    records = log.replay(out / log.LOG_NAME)
    [evolution] = [r for r in records if isinstance(r, EvolutionRecord)]
    [story] = [r for r in records if isinstance(r, NarrativeRecord)]
    assert evolution.status == "accepted" and story.text == PARAGRAPH
    assert story.llm.calls == len(stub.requests) and story.llm.study_tokens == 120 * len(stub.requests)
    md = (out / "report.md").read_text()
    assert f"LLM use: {len(stub.requests)} calls, {120 * len(stub.requests)} tokens in all." in md
    assert "Compiled by the LLM from their text: p1." in md and "p1.llm1 refines p1" in md
    assert "Evolution proposals: 1 accepted, 0 rejected, 0 declined." in md
