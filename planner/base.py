"""What every planner is: the `Planner` Protocol, the `Proposal` it returns, and the
study's indexes it reads the log through.

The loop calls `propose` before every run (with `--workers`, while others are in
flight: `pending` holds their design points, which must never be proposed again).
A planner returns the next run(s) or None when nothing is worth running; it never
trains and never writes the log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from parser.checker.pairs import PairIndexes
from parser.checker.verdicts import Verdict
from parser.schema import Prediction, ResultRecord
from planner.ledger import Ledger
from planner.space import Space


@dataclass(frozen=True)
class Proposal:
    runs: list[dict]  # design points to run, in order; the seed is in each
    targets: list[str]  # the predictions they are for
    rationale: str
    planner: str = "offline"
    pair: str | None = None  # the logged run a single proposed run completes the pair of
    llm: dict | None = None  # the LLM's account of this choice (parser.schema.LLMInfo), None offline
    gain: float | None = None  # expected information gain, bits (offline ranking)
    cost_s: float | None = None  # expected seconds of the runs


@dataclass
class Indexes:
    """What a study has read of its log, kept by the study and handed to its planner:
    the checker's pairs by comparison, and the planner's ledger. Fresh ones read afresh."""

    pairs: PairIndexes = field(default_factory=PairIndexes)
    ledger: Ledger = field(default_factory=Ledger)


@runtime_checkable
class Planner(Protocol):
    name: str

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space, pending: tuple[dict, ...] = (),
                indexes: Indexes | None = None) -> Proposal | None:
        """The next run(s), or None when nothing left is worth running."""
