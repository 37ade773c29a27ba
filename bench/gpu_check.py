"""The GPU check: our trainer on one GPU, in fp32 and bf16, eager and compiled.

    bench/gpu_check.sh                      # on a machine with a GPU (< 5 minutes)
    python bench/gpu_check.py --device cpu --steps 3 --batch-size 4 --seq-len 32 --matmul-n 256
                                            # the smoke mode the tests run, no GPU needed

Trains transformer_small on the synthetic language (no download) through
executor.train, once per variant, and prints per variant: tokens/s, model FLOP/s and
its fraction of the card's datasheet peak for the variant's dtype (dense, no
sparsity) and of a large bf16 matmul measured in the same run, peak GPU memory, and
compile time. Writes gpu_check.json and gpu_check.md into --out.

Model FLOP/s = 6 * N * tokens/s, N = every parameter (the tied embedding once, for
the LM head's matmul); attention's scores and weighted sum (12 * n_layer * d_model *
seq_len per token, +16% for transformer_small at seq_len 256) are not counted, so the
utilisation is a slight underestimate. fp32 means true fp32 matmuls (torch's default,
no TF32), so its peak is the card's plain FP32 rate.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from executor import train  # noqa: E402
from run_config import TrainConfig  # noqa: E402

# Dense TFLOP/s from NVIDIA's datasheets (the sparsity figures halved), matched against
# torch.cuda.get_device_name in this order: more specific names first.
PEAK_TFLOPS = [
    ("h200 nvl", "H200 NVL", {"bf16": 835.5, "fp32": 60.0}),
    ("h200", "H200 SXM", {"bf16": 989.4, "fp32": 66.9}),
    ("h100 nvl", "H100 NVL", {"bf16": 835.5, "fp32": 60.0}),
    ("h100 pcie", "H100 PCIe", {"bf16": 756.5, "fp32": 51.2}),
    ("h100", "H100 SXM", {"bf16": 989.4, "fp32": 66.9}),
    ("a100", "A100", {"bf16": 312.0, "fp32": 19.5}),
]
VARIANTS = ("fp32", "bf16", "fp32+compile", "bf16+compile")


class NoGPU(RuntimeError):
    pass


def card_peak(name: str) -> tuple[str, dict | None]:
    """(the card as the table knows it, its peaks) or ("unknown card", None)."""
    for key, label, peaks in PEAK_TFLOPS:
        if key in name.lower():
            return label, peaks
    return "unknown card", None


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, reps: int = 10) -> float:
    """Median TFLOP/s of an n^3 matmul on random data, after three warm-ups."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    times = []
    for i in range(reps + 3):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_variant(variant: str, base: TrainConfig, tmp: Path) -> dict:
    precision, _, compiled = variant.partition("+")
    config = TrainConfig(**{**vars(base), "precision": precision, "compile": compiled == "compile",
                            "experiment_id": variant, "metrics_path": str(tmp / f"{variant}.json")})
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer's progress lines
            m = train.train(config)
    except Exception as err:  # a variant that cannot run is a row of the report, not the end of it
        return {"variant": variant, "error": f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"}
    return {"variant": variant, "precision": precision, "compile": config.compile,
            "tokens_per_s": m["tokens_per_s"], "n_params": m["n_params"],
            "model_tflops": 6 * m["n_params"] * m["tokens_per_s"] / 1e12,
            "peak_gpu_memory_mb": m["peak_gpu_memory_mb"], "peak_memory_mb": m["peak_memory_mb"],
            "compile_time_s": m["compile_time_s"], "final_val_loss": m["final_val_loss"],
            "train_time_s": m["train_time_s"], "wall_s": time.perf_counter() - start}


def check(device: str = "cuda", steps: int = 300, batch_size: int = 64, seq_len: int = 256,
          variants: tuple[str, ...] = VARIANTS, matmul_n: int = 8192, time_budget_s: float = 240.0,
          out: Path | None = None) -> dict:
    """Run every variant (until the time budget is spent); returns the report, written to `out`."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NoGPU("no GPU visible to torch (torch.cuda.is_available() is False); "
                    "this check needs one (or pass --device cpu for the smoke mode)")
    started = time.perf_counter()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    card, peaks = card_peak(name)
    report = {"device": name, "card": card, "peak_tflops": peaks, "torch": torch.__version__,
              "model": "transformer_small", "dataset": "synthetic", "seq_len": seq_len,
              "batch_size": batch_size, "steps": steps, "matmul_n": matmul_n,
              "matmul_tflops": {p: matmul_tflops(dev, dt, matmul_n)
                                for p, dt in (("bf16", torch.bfloat16), ("fp32", torch.float32))},
              "variants": []}
    base = TrainConfig(model="transformer_small", dataset="synthetic", seq_len=seq_len, batch_size=batch_size,
                       max_steps=steps, eval_interval=steps, eval_batches=2, learning_rate=3e-4, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            if time.perf_counter() - started > time_budget_s:
                report["variants"].append({"variant": variant, "error": "skipped: time budget spent"})
                continue
            row = run_variant(variant, base, Path(tmp))
            if "error" not in row:
                precision = row["precision"]
                row["of_peak"] = row["model_tflops"] / peaks[precision] if peaks else None
                row["of_bf16_matmul"] = row["model_tflops"] / report["matmul_tflops"]["bf16"]
            report["variants"].append(row)
            print(format_row(row), flush=True)
    report["wall_s"] = time.perf_counter() - started
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "gpu_check.md").write_text(markdown(report))
    return report


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def format_row(row: dict) -> str:
    if "error" in row:
        return f"{row['variant']:14s} {row['error']}"
    mem = row["peak_gpu_memory_mb"]
    return (f"{row['variant']:14s} {row['tokens_per_s']:12,.0f} tok/s  {row['model_tflops']:8.3g} TFLOP/s  "
            f"peak {_pct(row['of_peak']):>8s}  bf16 matmul {_pct(row['of_bf16_matmul']):>8s}  "
            f"GPU mem {'n/a' if mem is None else f'{mem:,.0f} MiB'}  "
            f"compile {row['compile_time_s'] or 0:.1f} s")


def markdown(report: dict) -> str:
    peaks = report["peak_tflops"]
    mm = report["matmul_tflops"]
    lines = [f"GPU check: {report['device']} ({report['card']}), torch {report['torch']}; "
             f"{report['model']} on {report['dataset']}, seq_len {report['seq_len']}, batch {report['batch_size']}, "
             f"{report['steps']} steps per variant.",
             "",
             "Datasheet dense peak: " + ("unknown card" if peaks is None else
                                         f"bf16 {peaks['bf16']}, fp32 {peaks['fp32']} TFLOP/s") + ". "
             f"Measured {report['matmul_n']}^3 matmul: bf16 {mm['bf16']:.3g}, fp32 {mm['fp32']:.3g} TFLOP/s.",
             "Model FLOP/s = 6 x parameters x tokens/s (attention scores not counted).",
             "",
             "| variant | tokens/s | model TFLOP/s | of datasheet peak | of bf16 matmul | peak GPU MiB | compile s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in report["variants"]:
        if "error" in row:
            lines.append(f"| {row['variant']} | {row['error']} | | | | | |")
            continue
        mem = row["peak_gpu_memory_mb"]
        lines.append(f"| {row['variant']} | {row['tokens_per_s']:,.0f} | {row['model_tflops']:.3g} | "
                     f"{_pct(row['of_peak'])} | {_pct(row['of_bf16_matmul'])} | "
                     f"{'n/a' if mem is None else f'{mem:,.0f}'} | {row['compile_time_s'] or 0:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--matmul-n", type=int, default=8192)
    p.add_argument("--time-budget", type=float, default=240.0, help="seconds; later variants are skipped")
    p.add_argument("--out", type=Path, default=Path("bench/results/gpu_check"))
    args = p.parse_args(argv)
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"error: unknown variant(s) {unknown}; valid: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    try:
        report = check(args.device, args.steps, args.batch_size, args.seq_len, variants, args.matmul_n,
                       args.time_budget, args.out)
    except NoGPU as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"wrote {args.out / 'gpu_check.json'} and gpu_check.md ({report['wall_s']:.0f} s)")
    return 1 if all("error" in row for row in report["variants"]) else 0


if __name__ == "__main__":
    sys.exit(main())
