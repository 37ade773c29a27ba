"""research_log.jsonl: append one validated record per line, replay into state.

The log is the study's single source of truth. An append is one `write` of one
line followed by flush + fsync, so a crash leaves at worst a torn last line,
which replay skips (and the next append starts on a fresh line).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from parser.schema import ResultRecord, StopRecord

LOG_NAME = "research_log.jsonl"


def append(path: Path, record: ResultRecord | StopRecord) -> None:
    line = record.model_dump_json() + "\n"
    with open(path, "ab") as f:
        if f.tell() > 0 and not _ends_with_newline(path):
            f.write(b"\n")  # seal a torn line left by a crash
        f.write(line.encode())
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def replay(path: Path) -> list[ResultRecord | StopRecord]:
    """All valid records in order. A bad line is skipped with a warning; the log stays."""
    if not path.exists():
        return []
    records: list[ResultRecord | StopRecord] = []
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


def _parse(raw: bytes) -> ResultRecord | StopRecord | None:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return None
        kind = StopRecord if data.get("record") == "stop" else ResultRecord
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
