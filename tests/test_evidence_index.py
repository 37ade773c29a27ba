"""The incremental evidence index gives exactly what a fresh scan of the log gives."""
import math
import random

from parser.checker import stats

from parser.checker.evidence import gather
from parser.checker.pairs import PairIndexes, benefits, find_pairs
from parser.design import cell_key, same
from parser.schema import Condition, Prediction, PredictionSpec
from tests.records import comparison, interaction, record


def bound(pid="b1"):
    spec = PredictionSpec(kind="bound", metric="final_val_loss", direction="lower", threshold=2.0,
                          factor="norm_position", arm="pre",
                          condition=Condition(variable="dataset_fraction", op="<", value=0.5))
    return Prediction(id=pid, text="bound", spec=spec, compiled_by="structured")


def shuffled_log(n: int, seed: int) -> list:
    """Runs in a random order: pairs completed late, duplicates, failures, two fractions."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        norm = rng.choice(["pre", "post"])
        status = "failed" if rng.random() < 0.1 else "completed"
        out.append(record(f"exp_{k + 1:04d}", norm, rng.randrange(n // 4 + 1),
                          loss=2.0 + rng.gauss(0, 0.1), fraction=rng.choice([0.1, 1.0]),
                          n=rng.choice([1000, 60000]), status=status))
    return out


def scan(spec, records):
    """The definition: per (cell, seed), the first completed run of each arm; a pair is
    listed when its second run arrives."""
    groups, out = {}, []
    for r in records:
        if r.status != "completed":
            continue
        side = "arm" if same(r.config[spec.factor], spec.arm) else \
            "base" if same(r.config[spec.factor], spec.baseline) else None
        group = groups.setdefault((cell_key(r.config, spec.factor), r.seed), {})
        if side and side not in group:
            group[side] = r
            if len(group) == 2:
                out.append((group["arm"].experiment_id, group["base"].experiment_id))
    return out


def fresh(records):
    """The same runs as new objects: an index cannot recognise them, so it scans afresh."""
    return [r.model_copy() for r in records]


def test_growing_log_matches_fresh_scan_at_every_step():
    preds = [comparison(), interaction(), comparison("p3", threshold=0.05,
             condition=Condition(variable="dataset_fraction", op="<", value=0.5)), bound()]
    by_id = {p.id: p for p in preds}
    log = shuffled_log(120, seed=1)
    records, indexes = [], PairIndexes()  # kept, as a study keeps its own
    for r in log:
        records.append(r)
        again = fresh(records)
        for p in preds:
            got, want = gather(p, by_id, records, indexes), gather(p, by_id, again)
            assert (got.kind, got.scores, got.versus, got.noise, got.ids) == \
                   (want.kind, want.scores, want.versus, want.noise, want.ids), (p.id, len(records))
        assert [(p.arm.experiment_id, p.base.experiment_id)
                for p in find_pairs(preds[0].spec, records, indexes)] == scan(preds[0].spec, records)
    ev = gather(preds[0], by_id, records, indexes)
    assert len(ev.scores) > 10  # the log did hold pairs
    cells = {}
    for e in benefits(preds[0].spec, records):
        cells.setdefault(e.cell, []).append(e.score)
    moments = []  # the same noise in one batch: every cell's scores at once (stats.seed_noise)
    for ys in cells.values():
        moments.append(stats.Moments())
        for y in ys:
            moments[-1].add(y)
    batch = stats.seed_noise(moments, stats.PRIOR_LOG_SCALE)
    assert ev.noise.df == batch.df and math.isclose(ev.noise.scale, batch.scale, rel_tol=1e-12)
    assert len({(r.config["norm_position"], r.seed, r.config["dataset_fraction"]) for r in log}) < len(log)


def test_a_list_that_is_not_an_extension_gets_its_own_answer():
    spec, indexes = comparison().spec, PairIndexes()
    log = shuffled_log(60, seed=2)
    whole = benefits(spec, log, indexes)
    part = log[:30]
    assert [p.arm.experiment_id for p, *_ in benefits(spec, part, indexes)] == \
           [p.arm.experiment_id for p, *_ in benefits(spec, fresh(part))]
    other = log[30:]  # a slice that starts elsewhere: not a prefix of what was read
    assert [p.arm.experiment_id for p in find_pairs(spec, other, indexes)] == \
           [p.arm.experiment_id for p in find_pairs(spec, fresh(other))]
    assert len(benefits(spec, log, indexes)) == len(whole)


def test_callers_cannot_corrupt_the_index():
    spec, indexes = comparison().spec, PairIndexes()
    log = shuffled_log(40, seed=3)
    first = benefits(spec, log, indexes)
    first.clear()
    assert benefits(spec, log, indexes) == benefits(spec, fresh(log)) != []


def test_a_copy_reads_on_apart_from_its_original():
    """The writer's copy of the study's indexes (`PairIndexes.copy`) gives what a fresh scan
    gives as it reads on, and leaves the original as it was."""
    preds = [comparison(), interaction(), bound()]
    by_id = {p.id: p for p in preds}
    log = shuffled_log(120, seed=3)
    indexes = PairIndexes()
    for p in preds:
        gather(p, by_id, log[:60], indexes)
    before = {p.id: gather(p, by_id, log[:60], indexes) for p in preds}
    copy = indexes.copy()
    for n in (61, 90, 120):
        for p in preds:
            got, want = gather(p, by_id, log[:n], copy), gather(p, by_id, log[:n])
            assert (got.scores, got.versus, got.noise, got.ids) == (want.scores, want.versus, want.noise, want.ids)
    for p in preds:
        assert gather(p, by_id, log[:60], indexes) == before[p.id]
    assert all(len(i.seen) == 60 for found in indexes.by_spec.values() for i in found)
