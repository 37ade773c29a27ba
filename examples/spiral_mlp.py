"""Your own training script, run by the loop: a small MLP classifying two interleaved spirals.

    python loop.py --hypothesis examples/spiral_mlp.yaml --executor command \\
        --command "python examples/spiral_mlp.py"

The loop's contract (see executor/command.py): the run's config is a JSON file at
$RESEARCH_CONFIG holding every factor flat, built-in ones (learning_rate, max_steps, seed)
and this script's own (hidden_units, depth); the script writes its metrics as JSON to
$RESEARCH_METRICS. Any finite number it writes (here val_acc) can be named by a prediction.
The data is generated here (no download); the seed fixes the data, the init and the batches,
so the two arms of a comparison differ only in the factor compared. About a second of
training on one CPU core.
"""
import json
import math
import os
import sys
import time

import torch
from torch import nn


def spirals(n: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n points on two spirals (1.5 turns each), labels 0 and 1, with gaussian noise."""
    t = torch.rand(n, generator=generator) * 3 * math.pi + 0.5
    label = torch.randint(0, 2, (n,), generator=generator)
    angle = t + math.pi * label
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1) / (3 * math.pi)
    return x + noise * torch.randn(n, 2, generator=generator), label


def mlp(hidden_units: int, depth: int) -> nn.Module:
    layers, width = [], 2
    for _ in range(depth):
        layers += [nn.Linear(width, hidden_units), nn.Tanh()]
        width = hidden_units
    return nn.Sequential(*layers, nn.Linear(width, 2))


def main() -> int:
    config = json.load(open(os.environ["RESEARCH_CONFIG"]))
    hidden, depth = int(config.get("hidden_units", 32)), int(config.get("depth", 2))
    steps, lr, seed = config["max_steps"], config["learning_rate"], config["seed"]
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    data = torch.Generator().manual_seed(seed)
    x_train, y_train = spirals(512, 0.02, data)
    x_val, y_val = spirals(512, 0.02, data)
    model = mlp(hidden, depth)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn, curve, start = nn.CrossEntropyLoss(), [], time.perf_counter()
    for step in range(steps + 1):
        if step % max(1, steps // 10) == 0 or step == steps:
            with torch.no_grad():
                curve.append([step, loss_fn(model(x_val), y_val).item()])
        if step == steps:
            break
        loss = loss_fn(model(x_train), y_train)  # full batch: 512 points
        if not torch.isfinite(loss):
            print(f"error: loss diverged at step {step}", file=sys.stderr)
            return 3  # the contract's exit code for divergence
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        val_acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    metrics = {"final_val_loss": curve[-1][1], "val_acc": val_acc, "val_curve": curve,
               "train_time_s": time.perf_counter() - start, "n_train_samples": len(x_train),
               "n_params": sum(p.numel() for p in model.parameters())}
    with open(os.environ["RESEARCH_METRICS"], "w") as f:
        json.dump(metrics, f)
    print(f"val_acc: {val_acc:.4f}\nfinal_val_loss: {curve[-1][1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
