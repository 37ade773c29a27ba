"""Training faults on demand, for the reliability tests.

`inject(kind, metrics_path)` makes the current training process misbehave in one way;
`tests/fault_train.py KIND` does it as a command-backend script, and
`tests/faultinject/sitecustomize.py` does it inside executor.train (local backend)
for a run whose experiment id is `exp_<kind>`. FAULTS maps each kind to the cause
the loop must record.
"""
import os
import resource
import signal
import sys
import time

FAULTS = {
    "exception": "exception", "nan": "diverged", "hang": "timeout", "abort": "crash",
    "segv": "crash", "oom": "oom", "metrics_missing": "metrics_missing",
    "metrics_partial": "metrics_malformed", "metrics_malformed": "metrics_malformed",
    "flood": "exception",
}
FLOOD_BYTES = 20 * 2**20


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    return kb * 1024


def inject(kind: str, metrics_path: str) -> None:
    """Misbehave as `kind` says; returns only for the metrics faults (the run 'succeeds')."""
    if kind == "exception":
        raise RuntimeError("injected fault: the data loader fell over")
    if kind == "nan":  # what executor.train does on a NaN loss
        print("error: loss diverged at step 10 (loss=nan)", file=sys.stderr)
        sys.exit(3)
    if kind == "hang":
        time.sleep(3600)
    if kind == "abort":
        os.abort()
    if kind == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "oom":
        limit = _vm_bytes() + 256 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        hog = bytearray(2 * 2**30)  # noqa: F841 (MemoryError under the limit)
    if kind == "flood":
        chunk = ("x" * 1023 + "\n") * 1024
        for _ in range(FLOOD_BYTES // len(chunk)):
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        raise RuntimeError("injected fault after a flood of output")
    if kind == "metrics_partial":
        with open(metrics_path, "w") as f:
            f.write('{"final_val_loss": 2.5, "val_curve": [[0, 3.0], [10, 2.')
    if kind == "metrics_malformed":
        with open(metrics_path, "w") as f:
            f.write('{"final_val_loss": "low", "val_curve": "down"}')
