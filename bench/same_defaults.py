"""Are default runs bit-identical between two code trees? (a check for changes that add flags)

    git archive <old commit> | tar -x -C /tmp/old
    python bench/same_defaults.py /tmp/old [NEW_TREE, default: this checkout]

Each tree trains the same four fixed-seed configs on the CPU with one torch thread
(transformer_tiny pre- and post-norm; tiny with warmup, weight decay, dropout and
other sizes; a few steps of transformer_small), in its own subprocess so neither
imports the other's modules. Compared: every val and train curve point and a hash of
the initial weights, exactly. Exit 1 if anything differs.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFIGS = {
    "tiny pre-norm": {},
    "tiny post-norm": {"norm_position": "post"},
    "tiny warmup, decay, dropout, 3x48": {"warmup_steps": 10, "weight_decay": 0.1, "dropout": 0.1,
                                          "n_layer": 3, "d_model": 48},
    "tiny rmsnorm, swiglu, rope, 4 heads": {"norm_type": "rmsnorm", "activation": "swiglu",
                                            "pos_encoding": "rope", "n_head": 4, "norm_position": "post"},
    "small, 6 steps": {"model": "transformer_small", "seq_len": 32, "batch_size": 4, "max_steps": 6,
                       "eval_interval": 3},
}
BASE = dict(model="transformer_tiny", dataset="synthetic", seq_len=32, batch_size=16, max_steps=60,
            eval_interval=20, eval_batches=2, learning_rate=3e-3, device="cpu", threads=1, seed=5)

CHILD = r"""
import contextlib, hashlib, io, json, sys, tempfile
import torch
from executor import train
try:
    from run_config import TrainConfig
except ImportError:  # a tree from before run_config.py
    from executor.config import TrainConfig
out, tmp = {}, tempfile.mkdtemp()
for name, values in json.loads(sys.argv[1]).items():
    config = TrainConfig(**values, metrics_path=tmp + "/m.json")
    with contextlib.redirect_stdout(io.StringIO()):
        m = train.train(config)
    torch.manual_seed(config.seed)
    model, _ = train.build(config, 16, torch.device("cpu"))
    weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
    out[name] = {"final_val_loss": m["final_val_loss"], "val_curve": m["val_curve"],
                 "train_curve": m["train_curve"], "n_params": m["n_params"],
                 "init_sha256": hashlib.sha256(weights).hexdigest()[:16]}
print(json.dumps(out))
"""


def run_tree(tree: Path) -> dict:
    configs = json.dumps({name: {**BASE, **kw} for name, kw in CONFIGS.items()})
    done = subprocess.run([sys.executable, "-c", CHILD, configs], cwd=tree, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    old = Path(sys.argv[1]).resolve()
    new = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent).resolve()
    before, after = run_tree(old), run_tree(new)
    same = True
    print("| config | parameters | final val loss, old | final val loss, new | init weights | curves |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in CONFIGS:
        b, a = before[name], after[name]
        curves = b["val_curve"] == a["val_curve"] and b["train_curve"] == a["train_curve"]
        weights = b["init_sha256"] == a["init_sha256"] and b["n_params"] == a["n_params"]
        same &= curves and weights and b["final_val_loss"] == a["final_val_loss"]
        print(f"| {name} | {a['n_params']:,} | {b['final_val_loss']!r} | {a['final_val_loss']!r} | "
              f"{'identical' if weights else 'DIFFER'} | {'identical' if curves else 'DIFFER'} |")
    print("default runs are bit-identical" if same else "default runs DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
