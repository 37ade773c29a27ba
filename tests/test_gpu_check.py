"""bench/gpu_check: runs end to end on a CPU (smoke mode), refuses to start without a GPU."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--device", "cpu", "--steps", "3", "--batch-size", "4", "--seq-len", "32", "--matmul-n", "128"]
no_gpu_here = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible here")


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_smoke_mode_runs_end_to_end_on_a_cpu_and_writes_its_report(tmp_path):
    done = subprocess.run([sys.executable, "bench/gpu_check.py", *SMOKE, "--variants", "fp32,bf16",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [row["variant"] for row in report["variants"]] == ["fp32", "bf16"]
    for row in report["variants"]:
        assert row["tokens_per_s"] > 0 and row["model_tflops"] > 0 and row["of_bf16_matmul"] > 0
        assert row["of_peak"] is None  # a CPU is no card in the table
    assert report["card"] == "unknown card"
    assert "| bf16 |" in (tmp_path / "gpu_check.md").read_text()


@no_gpu_here
def test_without_a_gpu_the_python_part_fails_fast_with_a_clear_line(tmp_path):
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: no GPU visible to torch")
    assert not (tmp_path / "gpu_check.json").exists()


@no_gpu_here
def test_without_a_gpu_the_shell_script_fails_fast_with_a_clear_line(tmp_path):
    done = subprocess.run(["bash", "bench/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "OUT": str(tmp_path)})
    assert done.returncode == 2
    assert "error: no GPU visible to torch" in done.stderr


@pytest.mark.parametrize("name, card", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA A100-SXM4-80GB", "A100"), ("Tesla T4", "unknown card")])
def test_the_card_name_picks_its_datasheet_peak(name, card):
    label, peaks = _module().card_peak(name)
    assert label == card
    assert (peaks is None) == (card == "unknown card")


def test_a_variant_that_cannot_compile_is_a_row_of_the_report_not_a_crash(tmp_path, monkeypatch):
    gpu_check = _module()

    class Uncompilable(torch.nn.Module):
        def forward(self, *args):
            raise RuntimeError("no C compiler")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Uncompilable())
    report = gpu_check.check("cpu", steps=2, batch_size=2, seq_len=16, variants=("fp32", "fp32+compile"),
                             matmul_n=64, out=tmp_path)
    ok, failed = report["variants"]
    assert ok["tokens_per_s"] > 0
    assert failed["error"].startswith("CompileFailed: compile failed (RuntimeError: no C compiler)")
    assert "| fp32+compile | CompileFailed" in (tmp_path / "gpu_check.md").read_text()
