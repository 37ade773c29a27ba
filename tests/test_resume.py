"""--resume from the checkpoint of the folded state: the same study as a replay of the whole log."""
import pickle

import pytest

from parser import log
from parser.hypothesis import load_hypothesis
from planner.offline import OfflinePlanner
from planner.space import Space
from tests.sim_study import copy_of, finished_study, long_study
from trajectory import checkpoint
from trajectory.study import Study, open_study, replay_into


def _hypothesis(run):
    h = load_hypothesis(run / "hypothesis.yaml", builtin=False)
    return h, Space.of(h)


def resumed(run) -> Study:
    h, space = _hypothesis(run)
    study = open_study(run, h, space, "", resume=True)
    study.close()
    return study


def replayed(run) -> Study:
    """The reference: every record of the log folded afresh, no checkpoint read or written."""
    h, space = _hypothesis(run)
    study = Study(run, h, space)
    study.refresh()
    replay_into(study, from_checkpoint=False)
    return study


def folded(study: Study) -> dict:
    """Everything a replay folds, in comparable form, and what the planner would run next."""
    proposal = OfflinePlanner().propose(study.predictions, study.verdicts, study.records, study.space, (),
                                        study.indexes)
    return {"records": [r.model_dump() for r in study.records], "verdicts": study.verdicts,
            "history": study.history, "hypotheses": [h.model_dump() for h in study.hypotheses],
            "extensions": study.extensions, "unreachable": study.unreachable,
            "evolutions": [e.model_dump() for e in study.evolutions],
            "grid": study.space.grid, "tokens": study.space.tokens, "next": proposal}


def split(run, runs: int) -> bytes:
    """Cut the log after its first `runs` experiments, open the study there (which writes the
    checkpoint) and return the rest of the log, for the test to append as a loop would have."""
    data = (run / log.LOG_NAME).read_bytes()
    lines = data.splitlines(keepends=True)
    cut = [i for i, line in enumerate(lines) if b'"experiment_id"' in line][runs]
    (run / log.LOG_NAME).write_bytes(b"".join(lines[:cut]))
    (run / checkpoint.CHECKPOINT_NAME).unlink(missing_ok=True)
    assert resumed(run).restored == 0  # a full replay, which leaves the checkpoint
    return b"".join(lines[cut:])


def range_study(tmp_path):
    from tests.test_ranges import fading_range_study
    (tmp_path / "made").mkdir()
    return fading_range_study(tmp_path / "made", points=4, budget=20)


def logged(run) -> int:
    return len(log.experiments(log.replay(run / log.LOG_NAME)))


STUDIES = {"quickstart, up to 12 runs": lambda tmp: finished_study(),
           "a child hypothesis, 200 runs": lambda tmp: long_study(),
           "a range that gains values, 20 runs": range_study}


@pytest.mark.parametrize("made", STUDIES.values(), ids=STUDIES.keys())
def test_a_resume_from_the_checkpoint_has_the_state_of_a_full_replay(made, tmp_path):
    run = copy_of(made(tmp_path), tmp_path / "run", only_log=True)
    n = len(log.experiments(log.replay(run / log.LOG_NAME)))
    rest = split(run, n * 2 // 3)
    with open(run / log.LOG_NAME, "ab") as f:
        f.write(rest)  # the runs the loop logged after the checkpoint, before it was killed
    study = resumed(run)
    assert study.restored == n * 2 // 3 and len(study.records) == n
    assert folded(study) == folded(replayed(run))


def test_a_clean_stop_leaves_a_checkpoint_the_next_resume_starts_from(tmp_path):
    run = copy_of(finished_study(), tmp_path / "run")
    study = resumed(run)
    assert study.restored == logged(run) >= 10
    assert folded(study) == folded(replayed(run))


def test_a_torn_last_line_is_still_ignored_after_the_checkpoint(tmp_path):
    run = copy_of(finished_study(), tmp_path / "run", only_log=True)
    n = logged(run)
    runs = [line for line in split(run, 8).splitlines(keepends=True) if b'"experiment_id"' in line]
    with open(run / log.LOG_NAME, "ab") as f:
        f.write(b"".join(runs[:-1]) + runs[-1][:-40])  # a crash mid-append: the last run half written
    study = resumed(run)
    assert study.restored == 8 and len(study.records) == len(replayed(run).records) == n - 1
    assert folded(study) == folded(replayed(run))


def test_a_log_changed_before_the_checkpoint_is_replayed_in_full(tmp_path):
    run = copy_of(finished_study(), tmp_path / "run")
    data = (run / log.LOG_NAME).read_bytes()
    first = data.index(b'"final_val_loss":') + len(b'"final_val_loss":')
    (run / log.LOG_NAME).write_bytes(data[:first] + b"9" + data[first + 1:])  # exp_0001's loss, edited
    study = resumed(run)
    assert study.restored == 0 and study.records[0].metrics["final_val_loss"] >= 9
    assert folded(study) == folded(replayed(run))


def test_a_torn_checkpoint_is_passed_over(tmp_path):
    run = copy_of(finished_study(), tmp_path / "run")
    path = run / checkpoint.CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:-1000])  # a crash mid-write
    assert resumed(run).restored == 0
    assert resumed(run).restored == logged(run)  # the full replay wrote a whole one again


def test_a_checkpoint_of_another_hypothesis_is_passed_over(tmp_path):
    run = copy_of(finished_study(), tmp_path / "run")
    h, space = _hypothesis(run)
    other = h.model_copy(update={"claim": h.claim + " (reworded)"})
    study = open_study(run, other, space, "", resume=True)
    study.close()
    assert study.restored == 0


def test_the_checkpoint_holds_the_state_only(tmp_path):
    """Nothing of the process (the lock, the LLM hook, a writing thread) is in the file."""
    run = copy_of(finished_study(), tmp_path / "run")
    header, payload = (run / checkpoint.CHECKPOINT_NAME).read_bytes().split(b"\n", 1)
    assert set(pickle.loads(payload)) == set(checkpoint.STATE)


def test_a_run_cut_off_between_its_log_line_and_its_fold_is_folded_at_the_next_resume(tmp_path, monkeypatch):
    """Ctrl-C mid-append: the line is logged, the state never took it; the loop's stop must
    not write that state as the log's checkpoint."""
    run = copy_of(finished_study(), tmp_path / "run", only_log=True)
    rest = [line for line in split(run, 8).splitlines(keepends=True) if b'"experiment_id"' in line]
    ninth, tenth = log.read(run / log.LOG_NAME, data=b"".join(rest[:2])).records
    h, space = _hypothesis(run)
    study = open_study(run, h, space, "", resume=True)
    study.append(ninth)

    def ctrl_c(record):
        raise KeyboardInterrupt
    monkeypatch.setattr(study, "_apply_run", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        study.append(tenth)
    monkeypatch.undo()
    study.stop("interrupted by the user", "now")  # what the loop does on Ctrl-C
    study.close()
    again = resumed(run)
    assert len(again.records) == 10 and folded(again) == folded(replayed(run))
