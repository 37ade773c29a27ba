"""A stand-in training script for the command backend's contract tests.

It behaves like executor.train on the configs the contract uses: a learning rate
above 100 diverges (exit 3), a huge step count hangs, anything else succeeds.
"""
import json
import os
import sys
import time

config = json.load(open(os.environ["RESEARCH_CONFIG"]))
if config["learning_rate"] > 100:
    print("error: loss diverged at step 1 (loss=nan)", file=sys.stderr)
    sys.exit(3)
if config["max_steps"] > 10**6:
    time.sleep(3600)
loss = 2.0 + 0.001 * config["seed"]  # seeds differ, as real runs do
curve = [[0, 3.0], [config["max_steps"], loss]]
with open(os.environ["RESEARCH_METRICS"], "w") as f:
    json.dump({"final_val_loss": loss, "val_curve": curve, "n_train_samples": 10}, f)
print(f"final_val_loss: {loss}")  # the summary line, as executor.train ends
