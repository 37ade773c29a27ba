"""run_dir/.checkpoint: the study's folded state, so a resume need not replay the whole log.

Replaying a log folds every run into the verdicts, the evolution and the history one
at a time (~2 ms a run: 17 s at 10,000 runs). The checkpoint holds that state as it
stood after the log's first `offset` bytes, with the SHA-256 of those bytes, of the
code that folds them and of the study's inputs (hypothesis and space). A resume whose
log starts with those same bytes, on the same code and inputs, takes the state from
here and folds only the rest of the log; anything else (a torn or missing checkpoint,
an edited log, a changed hypothesis or program) replays the whole log, as before. The
log stays the single source of truth: this file is a cache of it, written atomically
(a crash leaves the old one or the new one) and safe to delete.

The file is a JSON header line, then a pickle. Unpickling runs code, so the checkpoint
is trusted as the run directory is: whoever can write it can already name a plugin in
its hypothesis.yaml.
"""
from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path

from parser.checker.pairs import Index

CHECKPOINT_NAME = ".checkpoint"
VERSION = 1
STATE = ("space", "records", "unreachable", "verdicts", "history", "hypotheses", "extensions",
         "evolutions", "indexes")  # the Study fields a replay folds, and nothing else
FOLDING_CODE = ("parser", "planner", "trajectory", "executor", "datasets")  # what a replay runs
ROOT = Path(__file__).resolve().parent.parent


def origin(hypothesis, space) -> str:
    """What the fold starts from and with: the code, the libraries, the hypothesis and its space."""
    inputs = repr((hypothesis.model_dump_json(), sorted(space.grid.items()), sorted(space.tokens.items()),
                   sorted(space.ranges.items())))
    return hashlib.sha256((_code() + inputs).encode()).hexdigest()


@lru_cache(maxsize=None)
def _code() -> str:
    """The fold's source files and library versions: new code may fold the same log differently."""
    import numpy
    import pydantic
    import scipy
    h = hashlib.sha256(repr((sys.version, pydantic.VERSION, numpy.__version__, scipy.__version__)).encode())
    for package in FOLDING_CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def save(study, data: bytes) -> None:
    """Write the study's state as folded from `data`, the log's first `study.log_offset` bytes."""
    state = {name: getattr(study, name) for name in STATE}
    payload = _dumps(state)
    header = {"version": VERSION, "origin": study.origin, "offset": study.log_offset,
              "log_sha256": _sha256(memoryview(data)[:study.log_offset]), "payload_sha256": _sha256(payload),
              "skipped": study.log_skipped, "write_s": study.writes.steady}
    _write_atomic(study.run_dir / CHECKPOINT_NAME, json.dumps(header).encode() + b"\n" + payload)


def restore(study, data: bytes) -> bool:
    """Take the checkpoint's state into `study` if it describes a prefix of `data` (the log's
    bytes) for this study's code and inputs; False (the study untouched) if not."""
    try:
        with open(study.run_dir / CHECKPOINT_NAME, "rb") as f:
            header = json.loads(f.readline())
            payload = f.read()
        offset, skipped, write_s = int(header["offset"]), list(header["skipped"]), float(header["write_s"])
        if header["version"] != VERSION or header["origin"] != study.origin or not 0 <= offset <= len(data) \
                or _sha256(memoryview(data)[:offset]) != header["log_sha256"] \
                or _sha256(payload) != header["payload_sha256"]:
            return False  # another log, study or program: replay the log
        state = _loads(payload)
    except Exception:  # noqa: BLE001 (missing, torn, unreadable: it is only a cache of the log)
        return False
    if not isinstance(state, dict) or set(state) != set(STATE):
        return False
    for name in STATE:
        setattr(study, name, state[name])
    study.log_offset, study.log_skipped = offset, skipped
    writes = study.writes  # how long the derived files take to write: a resume's first write goes by it
    writes.last_took = writes.steady = write_s
    study.saved_paced = writes.paced
    for number in skipped:  # as a replay from the start would
        print(f"warning: {study.log_path}:{number}: skipping a malformed log line", file=sys.stderr)
    return True


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file + os.replace, without fsync: a checkpoint lost to a power cut only costs a replay."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        """An index's views and remembered results are caches of what it holds (views keep
        filter closures, which pickle can't write): dropped, they are rebuilt on first use."""
        if type(obj) is Index:
            state = dict(obj.__dict__, views={}, remembered={})
            return Index.__new__, (Index,), state
        return NotImplemented


def _dumps(state: dict) -> bytes:
    out = io.BytesIO()
    with _no_gc():  # millions of small objects: the cyclic collector would triple the time
        _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return out.getvalue()


def _loads(payload: bytes) -> dict:
    with _no_gc():
        return pickle.loads(payload)


class _no_gc:
    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()
