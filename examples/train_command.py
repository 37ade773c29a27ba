"""A tiny training script for `--executor command`: the contract in 40 lines.

It reads the config JSON named by RESEARCH_CONFIG, "trains" a closed-form model
(noisy exponential decay whose speed depends on the config), and writes the
metrics JSON to RESEARCH_METRICS. Swap the middle for your own training code.

Optional early stop: after each evaluation it appends {"step", "val_loss"} to the
file named by RESEARCH_PROGRESS, and once the file named by RESEARCH_STOP exists (the
loop creates it when the run has crossed its convergence target and nothing else
needs the rest of the curve) it writes its metrics for the steps done and exits 0.

    python loop.py --hypothesis examples/quickstart.yaml --executor command \
        --command "python examples/train_command.py"
"""
import json
import math
import os
import random
import time

config = json.load(open(os.environ["RESEARCH_CONFIG"]))
progress, stop = os.environ.get("RESEARCH_PROGRESS"), os.environ.get("RESEARCH_STOP")
rng = random.Random(config["seed"])
speed = 1.3 if config["norm_position"] == "pre" else 1.0
speed *= math.sqrt(config["learning_rate"] / 3e-4)
floor = 1.0 + 0.2 * (1 - config["dataset_fraction"])
steps = config["max_steps"]
curve, stopped = [], False
for step in range(0, steps + 1, config["eval_interval"]):
    time.sleep(0.02)  # stands in for the training steps since the last evaluation
    loss = floor + 3.0 * math.exp(-speed * step / (0.3 * steps)) + rng.gauss(0, 0.01)
    curve.append([step, loss])
    if progress:
        with open(progress, "a") as f:
            f.write(json.dumps({"step": step, "val_loss": loss}) + "\n")
    if stop and os.path.exists(stop) and step < steps:
        stopped = True
        break

metrics = {"final_val_loss": curve[-1][1], "val_curve": curve, "steps": curve[-1][0],
           "stopped_early": stopped, "n_train_samples": int(4000 * config["dataset_fraction"])}
tmp = os.environ["RESEARCH_METRICS"] + ".tmp"
json.dump(metrics, open(tmp, "w"))
os.replace(tmp, os.environ["RESEARCH_METRICS"])
print(f"final_val_loss: {metrics['final_val_loss']:.4f}" + (f" (stopped at step {curve[-1][0]})" if stopped else ""))
