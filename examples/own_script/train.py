"""A researcher's script as the loop finds it: flags in, losses printed, its own folder.

Nothing here knows the research loop. It trains a small MLP on two interleaved spirals
(generated, no download), takes `--key=value` flags, seeds itself from `--seed` (1337
unless told, as nanoGPT hard-codes), prints a line per evaluation and writes its own
log.csv into `--out_dir`:

    python train.py --lr=0.01 --dropout=0.2 --max_iters=300 --seed=3 --out_dir=out
    step 100: train loss 0.4128, val loss 0.4502

examples/own_script/hypothesis.yaml studies it with one `run:` section. About a second of
training on one CPU core.
"""
import argparse
import csv
import math
import os

import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--dropout", type=float, default=0.0)
p.add_argument("--width", type=int, default=64)
p.add_argument("--max_iters", type=int, default=300)
p.add_argument("--eval_interval", type=int, default=25)
p.add_argument("--batch_size", type=int, default=64)
p.add_argument("--seed", type=int, default=1337)
p.add_argument("--out_dir", default="out")
args = p.parse_args()
torch.manual_seed(args.seed)
torch.set_num_threads(1)


def spirals(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.rand(n) * 3 * math.pi + 0.5
    label = torch.randint(0, 2, (n,))
    angle = t + math.pi * label
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1) / (3 * math.pi)
    return x + 0.05 * torch.randn(n, 2), label


x_train, y_train = spirals(512)
x_val, y_val = spirals(512)
model = nn.Sequential(nn.Linear(2, args.width), nn.ReLU(), nn.Dropout(args.dropout),
                      nn.Linear(args.width, args.width), nn.ReLU(), nn.Dropout(args.dropout),
                      nn.Linear(args.width, 2))
opt = torch.optim.Adam(model.parameters(), lr=args.lr)
loss_fn = nn.CrossEntropyLoss()
os.makedirs(args.out_dir, exist_ok=True)
with open(os.path.join(args.out_dir, "log.csv"), "w", newline="") as f:
    log = csv.writer(f)
    log.writerow(["step", "train_loss", "val_loss"])
    for step in range(1, args.max_iters + 1):
        batch = torch.randint(0, len(x_train), (args.batch_size,))
        loss = loss_fn(model(x_train[batch]), y_train[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.eval_interval == 0 or step == args.max_iters:
            model.eval()
            with torch.no_grad():
                val = loss_fn(model(x_val), y_val).item()
            model.train()
            print(f"step {step}: train loss {loss.item():.4f}, val loss {val:.4f}", flush=True)
            log.writerow([step, f"{loss.item():.6f}", f"{val:.6f}"])
            f.flush()
