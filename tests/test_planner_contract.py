"""What every planner promises the loop, run against each one (offline, grid, random, LLM).

The LLM planner talks to the scripted stub server (tests/stub_openai.py), which picks
the top-ranked candidate unless told otherwise.
"""
import pytest

from run_config import FACTORS
from parser.checker.verdicts import assess_all
from parser.design import run_key
from planner.base import Indexes, Planner, Proposal
from planner.baselines import GridPlanner, RandomPlanner
from planner.llm import Chat, LLMPlanner
from planner.offline import OfflinePlanner
from planner.space import Space
from tests.records import comparison, pairs
from tests.stub_openai import StubServer

GRID = {"model": ["transformer_small"], "dataset": ["synthetic"], "norm_position": ["pre", "post"],
        "learning_rate": [1e-4, 3e-4], "dataset_fraction": [0.1, 1.0]}
PREDICTIONS = [comparison("p1", threshold=0.05)]


@pytest.fixture(params=["offline", "grid", "random", "llm"])
def planner(request):
    if request.param != "llm":
        yield {"offline": OfflinePlanner, "grid": GridPlanner, "random": RandomPlanner}[request.param]()
        return
    with StubServer() as stub:
        yield LLMPlanner(OfflinePlanner(), Chat(stub.url, "stub", 2.0))


def propose(planner, records=(), pending=(), indexes=None) -> Proposal | None:
    records = list(records)
    return planner.propose(PREDICTIONS, assess_all(PREDICTIONS, records), records, Space(dict(GRID)),
                           tuple(pending), indexes)


def ran(records) -> set:
    return {run_key(r.config) for r in records}


def test_every_planner_is_a_planner(planner):
    assert isinstance(planner, Planner) and isinstance(planner.name, str)


def test_a_proposal_is_full_design_points_of_the_space_for_known_predictions(planner):
    proposal = propose(planner)
    assert isinstance(proposal, Proposal) and proposal.runs and set(proposal.targets) <= {"p1"}
    for run in proposal.runs:
        assert set(run) == set(FACTORS)
        assert all(run[k] in v for k, v in GRID.items())
    assert isinstance(proposal.rationale, str) and proposal.rationale


def test_a_logged_run_is_never_proposed_again(planner):
    records = pairs([(1.9, 2.0), (1.95, 2.0)])
    proposal = propose(planner, records)
    assert proposal is not None and ran(records).isdisjoint(run_key(r) for r in proposal.runs)


def test_a_run_in_flight_is_never_proposed_again(planner):
    first = propose(planner)
    second = propose(planner, pending=first.runs)
    assert second is not None
    assert {run_key(r) for r in first.runs}.isdisjoint(run_key(r) for r in second.runs)


def test_the_studys_indexes_give_what_a_fresh_read_gives(planner):
    records, indexes = pairs([(1.9, 2.0)]), Indexes()
    propose(planner, records[:1], indexes=indexes)
    kept, fresh = propose(planner, records, indexes=indexes), propose(planner, records)
    assert (kept.runs, kept.targets, kept.planner) == (fresh.runs, fresh.targets, fresh.planner)


def test_the_same_state_gets_the_same_proposal(planner):
    records = pairs([(1.9, 2.0)])
    a, b = propose(planner, records), propose(planner, records)
    assert (a.runs, a.targets, a.planner) == (b.runs, b.targets, b.planner)
