"""Which script ran: its command, its folder, and its code's version.

Each record of a run of the user's own script carries this, so a result can be traced
to the code that made it, and a study resumed after the script changed says so. The
version is the workdir's git commit plus whether tracked files differ from it; outside
git, a hash of the files the command names and the folder's own Python files.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

MAX_HASHED_BYTES = 16 * 2**20  # a file bigger than this is data, not code: named, not hashed


def identity(command: str, workdir: str | None, argv: tuple[str, ...] = ()) -> dict:
    folder = Path(workdir) if workdir else Path.cwd()
    found = {"command": command, "workdir": str(folder.resolve())}
    commit = _git(folder, "rev-parse", "HEAD")
    if commit:
        dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
        found = {**found, "git_commit": commit, "dirty": dirty}
        if dirty:  # which uncommitted changes: two runs on one commit may differ
            found["diff_sha256"] = hashlib.sha256((_git(folder, "diff", "HEAD") or "").encode()).hexdigest()[:16]
        return found
    return {**found, "files_sha256": files_hash(folder, argv)}


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def files_hash(folder: Path, argv: tuple[str, ...] = ()) -> str:
    """sha256 over the folder's *.py files and the files the command names, by name and content."""
    named = [folder / a for a in argv if "{" not in a and (folder / a).is_file()]
    files = sorted({p.resolve() for p in [*folder.glob("*.py"), *named]})
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        if path.stat().st_size <= MAX_HASHED_BYTES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def version(found: dict | None) -> str:
    """The code's version in words: 'git 1a2b3c4 (with uncommitted changes)', or 'files 9f8e...'."""
    if not found:
        return "unknown"
    if found.get("git_commit"):
        return f"git {found['git_commit'][:7]}" + (" (with uncommitted changes)" if found.get("dirty") else "")
    return f"files {found.get('files_sha256')}"


def changed(records: list, now: dict) -> str | None:
    """A note when the script differs from the one that made the last logged run, else None."""
    last = next((r.script for r in reversed(records) if getattr(r, "script", None)), None)
    if not last:
        return None
    keys = ("command", "workdir", "git_commit", "dirty", "diff_sha256", "files_sha256")
    if all(last.get(k) == now.get(k) for k in keys):
        return None
    what = [f"{k}: {last.get(k)!r} -> {now.get(k)!r}" for k in ("command", "workdir") if last.get(k) != now.get(k)]
    if version(last) != version(now):
        what.append(f"code: {version(last)} -> {version(now)}")
    return ("the script changed since the last logged run (" + "; ".join(what or ["its uncommitted changes"]) +
            "): new runs may not be comparable with the logged ones")
