import json

from parser import log
from parser.schema import StopRecord
from tests.records import record


def test_records_replay_in_the_order_they_were_appended(tmp_path):
    path = tmp_path / log.LOG_NAME
    for i in range(3):
        log.append(path, record(f"exp_{i:04d}", "pre", i))
    assert [r.experiment_id for r in log.replay(path)] == ["exp_0000", "exp_0001", "exp_0002"]


def test_a_torn_last_line_is_ignored_and_the_next_append_is_intact(tmp_path):
    path = tmp_path / log.LOG_NAME
    log.append(path, record("exp_0001", "pre", 0))
    with open(path, "ab") as f:
        f.write(record("exp_0002", "post", 0).model_dump_json()[:40].encode())
    assert [r.experiment_id for r in log.replay(path)] == ["exp_0001"]
    log.append(path, record("exp_0003", "post", 0))
    assert [r.experiment_id for r in log.replay(path)] == ["exp_0001", "exp_0003"]
    for line in path.read_text().splitlines():  # the torn fragment was cut off: valid JSONL
        json.loads(line)


def test_a_whole_record_missing_only_its_newline_is_kept(tmp_path):
    path = tmp_path / log.LOG_NAME
    with open(path, "wb") as f:
        f.write(record("exp_0001", "pre", 0).model_dump_json().encode())
    log.append(path, record("exp_0002", "post", 0))
    assert [r.experiment_id for r in log.replay(path)] == ["exp_0001", "exp_0002"]


def test_a_malformed_line_in_the_middle_is_skipped_with_a_warning(tmp_path, capsys):
    path = tmp_path / log.LOG_NAME
    log.append(path, record("exp_0001", "pre", 0))
    with open(path, "a") as f:
        f.write('{"experiment_id": 5}\n')
    log.append(path, record("exp_0002", "post", 0))
    assert len(log.replay(path)) == 2
    assert ":2: skipping" in capsys.readouterr().err


def test_stop_records_replay_but_are_not_experiments(tmp_path):
    path = tmp_path / log.LOG_NAME
    log.append(path, record("exp_0001", "pre", 0))
    log.append(path, StopRecord(reason="done", n_experiments=1, finished_at="now"))
    records = log.replay(path)
    assert isinstance(records[1], StopRecord)
    assert [r.experiment_id for r in log.experiments(records)] == ["exp_0001"]


def test_a_repeated_experiment_id_counts_once(tmp_path):
    path = tmp_path / log.LOG_NAME
    log.append(path, record("exp_0001", "pre", 0))
    log.append(path, record("exp_0001", "pre", 0))
    assert len(log.experiments(log.replay(path))) == 1


def test_every_append_is_one_line_of_json_with_the_design_keys(tmp_path):
    path = tmp_path / log.LOG_NAME
    log.append(path, record("exp_0042", "pre", 0))
    data = json.loads(path.read_text())
    assert {"experiment_id", "config", "metrics", "status"} <= set(data)
