import sys, statistics, math
from bench.sim_cases import case
from executor.sim import simulate
from parser.checker import stats
idx = int(sys.argv[1]); scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
c = case(idx, "quickstart", None, scale)
cfg = dict(c.hypothesis["hypothesis"]["initial_config"])
for frac in (0.1, 1.0):
  for lr in (1e-3, 3e-3):
    cell = dict(cfg, learning_rate=lr, dataset_fraction=frac)
    def curves(seed):
        a = simulate(c.truth, dict(cell, norm_position="pre", seed=seed))["val_curve"]
        b = simulate(c.truth, dict(cell, norm_position="post", seed=seed))["val_curve"]
        return a, b
    cs = [curves(s) for s in range(400)]
    def score(a, b, T):
        x = stats.steps_to_target(a, b, T)
        return math.log(x[1] / x[0])
    own = [score(a, b, None) for a, b in cs]
    means = []
    for first in range(40):
        T = stats.pair_target(*cs[first])
        ys = [score(a, b, T) for a, b in cs[40:]]
        means.append(statistics.fmean(ys))
    T0 = stats.pair_target(*cs[0])
    within = [score(a, b, T0) for a, b in cs[40:]]
    print(frac, lr, "own-target mean %.3f sd %.3f | fixed-target within sd %.3f | cell mean over first pairs: mean %.3f sd %.3f" % (
        statistics.fmean(own), statistics.stdev(own), statistics.stdev(within), statistics.fmean(means), statistics.stdev(means)))
