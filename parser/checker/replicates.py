"""Does the script honour the design? Replicates that are copies, arms that are one run.

Two runs at one design point with different seeds that report bit-identical numbers are
not independent replicates: the script ignores the seed (nanoGPT hard-codes
`torch.manual_seed(1337)`). Two arms of a pair that report bit-identical numbers were one
run twice: the compared factor never reached the script. Neither is evidence: the
checker skips a copy and such a pair (`Checks.copy_of`, `Checks.same_output`), so no
prediction is decided on them, and the loop stops with `Checks.problem`, which says how
to pass the seed or the factor.

Only numbers that the seed moves are compared: losses, accuracies and their curves; not
timings, memory or the run's length. A run that reports too little to tell (fewer than
MIN_DIGITS significant digits in all, e.g. one accuracy printed as 0.93) is never called a copy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from parser.design import point_key

MIN_DIGITS = 8
# Numbers a run reports that are no outcome of its seed: how long, how fast, how big, how set up.
NOT_OUTCOMES = re.compile(r"time|_s$|per_s|_sec|speed|throughput|mfu|memory|mem_|^steps$|stopped_early|"
                          r"n_train_samples|threads|sha256|epoch|learning_rate|^lr|grad_norm", re.I)


def fingerprint(metrics: dict | None) -> tuple | None:
    """The run's outcomes, exactly, or None when they are too few to tell a copy."""
    items, digits = [], 0
    for key, value in sorted((metrics or {}).items()):
        if NOT_OUTCOMES.search(key):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            items.append((key, float(value)))
            digits += _digits(value) if digits < MIN_DIGITS else 0
        elif isinstance(value, list) and value and all(isinstance(p, (list, tuple)) for p in value):
            items.append((key, tuple(map(tuple, value))))
            for point in value if digits < MIN_DIGITS else ():
                digits += sum(map(_digits, point))
                if digits >= MIN_DIGITS:
                    break
    return tuple(items) if digits >= MIN_DIGITS else None


def _digits(value) -> int:
    """Significant digits of a number as Python writes it: 2.4512 has 5, 100.0 has 1."""
    text = repr(float(value)).lower().partition("e")[0].replace("-", "").replace(".", "").strip("0")
    return len(text)


@dataclass(frozen=True)
class Problem:
    kind: str  # seed_ignored | factor_unreached
    text: str


class Checks:
    """What the records so far say about the script, read once each, in log order."""

    def __init__(self):
        self.read = 0
        self.by_point: dict[tuple, dict[tuple, object]] = {}  # design point -> fingerprint -> first run
        self.copies: dict[str, object] = {}  # experiment id -> the earlier run it copies
        self.problems: list[Problem] = []
        self.by_pair: dict[tuple, tuple] = {}  # (seed, fingerprint) -> the runs, a tuple: copies share it

    def copy(self) -> "Checks":
        """An independent copy, sharing the runs it points to."""
        other = Checks()
        other.read, other.copies, other.problems = self.read, dict(self.copies), list(self.problems)
        other.by_point = {key: dict(marks) for key, marks in self.by_point.items()}
        other.by_pair = dict(self.by_pair)  # (no key hashed again: a fingerprint holds whole curves)
        return other

    def update(self, records: list) -> "Checks":
        for r in records[self.read:]:
            self._read(r)
        self.read = len(records)
        return self

    def _read(self, r) -> None:
        if r.status != "completed":
            return
        mark = fingerprint(r.metrics)
        if mark is None:
            return
        earlier = self.by_point.setdefault(point_key(r.config), {}).setdefault(mark, r)
        if earlier is not r and earlier.seed != r.seed:
            self.copies[r.experiment_id] = earlier
            self._say("seed_ignored", seed_text(r, earlier))
        key = (r.seed, mark)
        group = self.by_pair.get(key, ())  # same seed, same numbers
        for other in group:
            factor = differs_in(r.config, other.config)
            if factor:
                self._say("factor_unreached", factor_text(factor, other, r))
        self.by_pair[key] = (*group, r)

    def _say(self, kind: str, text: str) -> None:
        if not any(p.kind == kind for p in self.problems):
            self.problems.append(Problem(kind, text))

    def copy_of(self, record) -> object | None:
        return self.copies.get(record.experiment_id)

    def problem(self) -> str | None:
        return "; ".join(p.text for p in self.problems) or None


def differs_in(a: dict, b: dict) -> str | None:
    """The one factor two configs differ in (the seed and ids apart), else None."""
    ka, kb = dict(point_key(a)), dict(point_key(b))
    diff = [k for k in sorted(set(ka) | set(kb)) if ka.get(k) != kb.get(k)]
    return diff[0] if len(diff) == 1 else None


def same_output(a, b) -> bool:
    """Two runs (the arms of a pair) reported the very same outcomes."""
    mark = fingerprint(a.metrics)
    return mark is not None and mark == fingerprint(b.metrics)


def seed_text(run, earlier) -> str:
    return (f"identical replicates: the script ignores the seed ({run.experiment_id}, seed {run.seed}, reported "
            f"exactly what {earlier.experiment_id}, seed {earlier.seed}, did), so its replicates are copies and "
            "confirm nothing; pass the seed with {seed} in run.command (e.g. --seed={seed}), or, where the script "
            "hard-codes its seed, set it from the RESEARCH_SEED environment variable")


def factor_text(factor: str, a, b) -> str:
    return (f"the factor {factor} does not reach the script ({a.experiment_id} with {factor}={a.config.get(factor)!r} "
            f"and {b.experiment_id} with {factor}={b.config.get(factor)!r} reported identical numbers); pass it "
            f"with {{{factor}}} in run.command (e.g. --{factor}={{{factor}}}), or read it from the config file")
