"""Canned result records for tests of the checker, planner and trajectory."""
from run_config import TrainConfig, to_dict
from parser.design import config_hash
from parser.schema import Condition, Prediction, PredictionSpec, ResultRecord

def record(eid, norm, seed, loss=2.0, fraction=0.1, lr=3e-4, status="completed", n=1000,
           curve=None, targets=("p1",)):
    config = to_dict(TrainConfig(experiment_id=eid, norm_position=norm, seed=seed,
                                 dataset_fraction=fraction, learning_rate=lr))
    metrics = None
    if status == "completed":
        metrics = {"final_val_loss": loss, "n_train_samples": n,
                   "val_curve": curve or [[0, 5.0], [100, loss]]}
    return ResultRecord(experiment_id=eid, hypothesis_id="H1", config=config,
                        config_hash=config_hash(config), seed=seed, status=status,
                        metrics=metrics, error=None if status == "completed" else "boom",
                        targets=list(targets))


def comparison(pid="p1", threshold=0.0, relative=True, condition=None, metric="final_val_loss", target=None):
    spec = PredictionSpec(metric=metric, direction="lower", factor="norm_position", arm="pre",
                          baseline="post", threshold=threshold, relative=relative,
                          condition=condition, target=target)
    return Prediction(id=pid, text=f"{pid} text", spec=spec, compiled_by="structured")


def interaction(pid="p2", of="p1", condition=None, margin=0.0, metric="final_val_loss", target=None):
    condition = condition or Condition(variable="n_train_samples", op=">", value=50000)
    spec = PredictionSpec(kind="interaction", metric=metric, direction="lower",
                          factor="norm_position", arm="pre", baseline="post", of=of,
                          condition=condition, threshold=margin, target=target)
    return Prediction(id=pid, text=f"{pid} text", spec=spec, compiled_by="structured")


def pairs(losses, fraction=0.1, n=1000, start=1):
    """[(pre_loss, post_loss), ...] -> records, one pair per seed."""
    out, k = [], start
    for seed, (pre, post) in enumerate(losses):
        out.append(record(f"exp_{k:04d}", "pre", seed, pre, fraction, n=n))
        out.append(record(f"exp_{k + 1:04d}", "post", seed, post, fraction, n=n))
        k += 2
    return out
