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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from parser.schema import EvolutionRecord, NarrativeRecord, ResultRecord, StopRecord

Record = ResultRecord | StopRecord | EvolutionRecord | NarrativeRecord
KINDS = {"stop": StopRecord, "evolution": EvolutionRecord, "narrative": NarrativeRecord}

LOG_NAME = "research_log.jsonl"


def now() -> str:
    """A record's timestamp (started_at, finished_at, logged_at, a stop's): UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def append(path: Path, record: Record) -> int:
    """Append the record's line; returns the log's length in bytes after it."""
    line = record.model_dump_json() + "\n"
    if path.exists():
        _repair_tail(path)
    with open(path, "ab") as f:
        f.write(line.encode())
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def as_logged(record: Record) -> Record:
    """The record as a replay reads it back from its line (tuples become lists, say): what the
    study folds, so that the state a loop builds is the state a replay of its log builds."""
    return _parse(record.model_dump_json().encode()) or record  # one it can't read back: as before


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


@dataclass(frozen=True)
class Read:
    """The valid records of a log from some byte on, and how far they account for it."""

    records: list
    end: int  # bytes read up to: a torn last line is not read, a whole record lacking its newline is
    skipped: list[int]  # line numbers of the malformed lines passed over (warned about)


def replay(path: Path) -> list[Record]:
    """All valid records in order. A bad line is skipped with a warning; the log stays."""
    return read(path).records if path.exists() else []


def read(path: Path, start: int = 0, data: bytes | None = None) -> Read:
    """The records from byte `start` on (a line boundary an earlier `read` ended at), with
    the same warnings, numbered by the line in the whole log, as a replay from the start."""
    data = path.read_bytes() if data is None else data
    first = data.count(b"\n", 0, start) + 1
    lines = data[start:].split(b"\n")
    records, skipped, end = [], [], start
    for number, raw in enumerate(lines, start=first):
        last = number == first + len(lines) - 1  # no newline after it
        if raw.strip():
            record = _parse(raw)
            if record is None and last:
                break  # torn: a crash mid-append, cut off by the next one
            if record is None:
                print(f"warning: {path}:{number}: skipping a malformed log line", file=sys.stderr)
                skipped.append(number)
            else:
                records.append(record)
        end += len(raw) + (not last)
    return Read(records, end, skipped)


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


def state_records(records: list, folded=()) -> list[ResultRecord | EvolutionRecord]:
    """What a replay folds, in log order: the experiments (one per id, none of the ids in
    `folded` again) and the evolution proposals."""
    seen, out = set(folded), []
    for r in records:
        if isinstance(r, ResultRecord):
            if r.experiment_id in seen:
                continue
            seen.add(r.experiment_id)
        elif not isinstance(r, EvolutionRecord):
            continue
        out.append(r)
    return out


def llm_totals(records: list) -> tuple[int, int]:
    """(tokens, calls) the study's LLM has spent, from the running totals its records carry."""
    infos = [r.llm for r in records if getattr(r, "llm", None) is not None]
    return max((i.study_tokens for i in infos), default=0), max((i.calls for i in infos), default=0)
