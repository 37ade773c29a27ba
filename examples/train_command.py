"""A tiny training script for `--executor command`: the contract in 30 lines.

It reads the config JSON named by RESEARCH_CONFIG, "trains" a closed-form model
(noisy exponential decay whose speed depends on the config), and writes the
metrics JSON to RESEARCH_METRICS. Swap the middle for your own training code.

    python loop.py --hypothesis examples/quickstart.yaml --executor command \
        --command "python examples/train_command.py"
"""
import json
import math
import os
import random

config = json.load(open(os.environ["RESEARCH_CONFIG"]))
rng = random.Random(config["seed"])
speed = 1.3 if config["norm_position"] == "pre" else 1.0
speed *= math.sqrt(config["learning_rate"] / 3e-4)
floor = 1.0 + 0.2 * (1 - config["dataset_fraction"])
steps = config["max_steps"]
curve = []
for step in range(0, steps + 1, config["eval_interval"]):
    loss = floor + 3.0 * math.exp(-speed * step / (0.3 * steps)) + rng.gauss(0, 0.01)
    curve.append([step, loss])

metrics = {"final_val_loss": curve[-1][1], "val_curve": curve, "train_time_s": 0.0,
           "n_train_samples": int(4000 * config["dataset_fraction"])}
tmp = os.environ["RESEARCH_METRICS"] + ".tmp"
json.dump(metrics, open(tmp, "w"))
os.replace(tmp, os.environ["RESEARCH_METRICS"])
print(f"final_val_loss: {metrics['final_val_loss']:.4f}")
