import sys, tempfile, contextlib, io, yaml, math
from pathlib import Path
import loop
from bench.sim_cases import case
from executor.sim import SimExecutor
from bench.planners import make_planner
from parser.checker.pairs import benefits
idx = int(sys.argv[1]); scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
c = case(idx, "quickstart", None, scale)
with tempfile.TemporaryDirectory() as tmp:
    src = Path(tmp) / "h.yaml"; src.write_text(yaml.safe_dump(c.hypothesis, sort_keys=False))
    args = loop.parse_args(["--hypothesis", str(src), "--executor", "sim", "--max-experiments", "40", "--out", str(Path(tmp) / "run")])
    study = loop.open_from_args(args)
    with contextlib.redirect_stdout(io.StringIO()):
        reason = loop.research(study, make_planner("offline", args, idx), SimExecutor(c.truth), loop.LoopOptions.from_args(args))
print(reason)
for pid, v in study.verdicts.items():
    print(pid, v.status, v.confidence, v.effect, v.interval, v.evidence, v.n_pairs)
p1 = next(p for p in study.predictions if p.id == "p1")
for e in benefits(p1.spec, study.records):
    print(e.cell, e.pair.seed, round(e.score, 4), e.record.metrics["n_train_samples"])
