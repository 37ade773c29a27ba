"""research_log.jsonl: append one validated record per line, replay into state.

The log is the study's single source of truth. An append is one `write` of one
line followed by flush + fsync, so a crash leaves at worst a torn last line,
which replay skips; the next append cuts it off (it never held a whole record), so
the log stays valid JSONL line by line.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from parser.schema import EvolutionRecord, NarrativeRecord, ResultRecord, StopRecord

Record = ResultRecord | StopRecord | EvolutionRecord | NarrativeRecord
KINDS = {"stop": StopRecord, "evolution": EvolutionRecord, "narrative": NarrativeRecord}

LOG_NAME = "research_log.jsonl"


def append(path: Path, record: Record) -> None:
    line = record.model_dump_json() + "\n"
    if path.exists():
        _repair_tail(path)
    with open(path, "ab") as f:
        f.write(line.encode())
        f.flush()
        os.fsync(f.fileno())


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (no newline, not a record) left by a crash mid-append; a whole
    record that only lacks its newline gets one."""
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        start = _last_line_start(f, end)
        f.seek(start)
        if _parse(f.read()) is None:
            f.truncate(start)
        else:
            f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())


def _last_line_start(f, end: int, block: int = 1 << 16) -> int:
    pos = end
    while pos > 0:
        step = min(block, pos)
        f.seek(pos - step)
        newline = f.read(step).rfind(b"\n")
        if newline >= 0:
            return pos - step + newline + 1
        pos -= step
    return 0


def replay(path: Path) -> list[Record]:
    """All valid records in order. A bad line is skipped with a warning; the log stays."""
    if not path.exists():
        return []
    records: list[Record] = []
    lines = path.read_bytes().split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        record = _parse(raw)
        if record is None:
            torn = number == len(lines)  # no newline after it: a crash mid-append
            if not torn:
                print(f"warning: {path}:{number}: skipping a malformed log line", file=sys.stderr)
            continue
        records.append(record)
    return records


def _parse(raw: bytes) -> Record | None:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return None
        kind = KINDS.get(data.get("record"), ResultRecord)
        return kind.model_validate(data)
    except (ValueError, ValidationError):
        return None


def experiments(records: list) -> list[ResultRecord]:
    """Experiment records, one per id (the first wins, should a resume ever repeat one)."""
    seen: set[str] = set()
    out = []
    for r in records:
        if isinstance(r, ResultRecord) and r.experiment_id not in seen:
            seen.add(r.experiment_id)
            out.append(r)
    return out


def state_records(records: list) -> list[ResultRecord | EvolutionRecord]:
    """What a replay folds, in log order: the experiments (one per id) and the evolution proposals."""
    runs = {id(r) for r in experiments(records)}
    return [r for r in records if id(r) in runs or isinstance(r, EvolutionRecord)]


def llm_totals(records: list) -> tuple[int, int]:
    """(tokens, calls) the study's LLM has spent, from the running totals its records carry."""
    infos = [r.llm for r in records if getattr(r, "llm", None) is not None]
    return max((i.study_tokens for i in infos), default=0), max((i.calls for i in infos), default=0)
