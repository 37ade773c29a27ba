"""Byte-level text corpora: find the files (local dir, env var, cache, download), verify, split.

Tokens are raw bytes (vocab 256), so there is no tokenizer to version and a loss in
nats/token converts to bits per byte as loss / ln 2.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "RESEARCH_DATA_DIR"


class DatasetUnavailable(RuntimeError):
    """The data is not on this machine and could not be fetched, or a local copy is incomplete."""


class ChecksumMismatch(RuntimeError):
    """A downloaded file is not the file the registry pins."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str | None  # None: unknown; the observed hash is reported instead
    size: int | None = None  # bytes


@dataclass(frozen=True)
class Split:
    """Bytes [start, end) of one file, as fractions of its length."""
    file: str
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True)
class TextDataset:
    name: str
    files: tuple[RemoteFile, ...]
    train: Split
    val: Split

    def file(self, name: str) -> RemoteFile:
        return next(f for f in self.files if f.name == name)

    def needed(self) -> tuple[RemoteFile, ...]:
        names = {self.train.file, self.val.file}
        return tuple(f for f in self.files if f.name in names)

    def train_bytes(self) -> int | None:
        """Size of the train split without reading it, if the file size is pinned."""
        size = self.file(self.train.file).size
        if size is None:
            return None
        lo, hi = split_bounds(size, self.train)
        return hi - lo


def split_bounds(n: int, split: Split) -> tuple[int, int]:
    return int(n * split.start), int(n * split.end)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "research-loop"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def how_to_provide(ds: TextDataset) -> str:
    urls = "\n".join(f"  {f.url}" for f in ds.needed())
    return (
        f"To provide {ds.name}, download\n{urls}\n"
        f"into the cache {cache_root() / ds.name}/, or into any directory DIR and pass "
        f"--data-dir DIR (or set {ENV_VAR}=DIR); DIR may hold the files directly or a "
        f"{ds.name}/ subfolder."
    )


def local_dir(ds: TextDataset, data_dir: str | os.PathLike) -> Path:
    """The folder inside a user's data dir that holds this corpus (subfolder preferred)."""
    root = Path(data_dir).expanduser()
    sub = root / ds.name
    return sub if sub.is_dir() else root


def verify_local(ds: TextDataset, folder: Path) -> dict[str, str]:
    """Hashes of the needed files in a user's folder; a mismatch warns, a missing file fails."""
    hashes = {}
    for f in ds.needed():
        path = folder / f.name
        if not path.is_file():
            # Never fall back to another split or source: the run would measure something else.
            raise DatasetUnavailable(
                f"{ds.name}: {f.name} is missing from {folder}; it holds "
                f"{sorted(p.name for p in folder.iterdir()) if folder.is_dir() else 'nothing (no such directory)'}. "
                + how_to_provide(ds))
        hashes[f.name] = file_sha256(path)
        if f.sha256 is not None and hashes[f.name] != f.sha256:
            print(f"warning: {path} has sha256 {hashes[f.name]}, expected {f.sha256}; "
                  "using it anyway (results may not compare with other runs)", file=sys.stderr)
    return hashes


def download(f: RemoteFile, dest: Path, ds: TextDataset) -> str:
    """Fetch into dest atomically, with progress on stderr; keeps the file only if its
    checksum (and size) match."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{f.name}.", suffix=".part")
    try:
        digest, size = hashlib.sha256(), 0
        show = Progress(f"{ds.name}: downloading {f.url}", f.size)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(f.url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 18), b""):
                out.write(block)
                digest.update(block)
                size += len(block)
                show.update(size)
        show.done(size)
        check_download(f, digest.hexdigest(), size)
        os.replace(tmp, dest)
        return digest.hexdigest()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DatasetUnavailable(f"{ds.name}: could not download {f.url} ({err}).\n" + how_to_provide(ds)) from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Progress:
    """A one-line download progress bar on stderr: redrawn in a terminal, two lines elsewhere."""

    def __init__(self, label: str, total: int | None):
        self.label, self.total, self.tty = label, total, sys.stderr.isatty()
        if not self.tty:
            print(f"{label} ...", file=sys.stderr, flush=True)

    def update(self, size: int) -> None:
        if self.tty:
            share = f" {100 * size / self.total:3.0f}%" if self.total else ""
            print(f"\r{self.label}: {size / 2**20:.1f} MiB{share}", end="", file=sys.stderr, flush=True)

    def done(self, size: int) -> None:
        print(("\r" if self.tty else "") + f"{self.label}: {size / 2**20:.1f} MiB, done", file=sys.stderr, flush=True)


def check_download(f: RemoteFile, sha: str, size: int) -> None:
    if f.sha256 is not None and sha != f.sha256:
        raise ChecksumMismatch(f"downloaded {f.url} has sha256 {sha}, expected {f.sha256}; not kept")
    if f.size is not None and size != f.size:
        raise ChecksumMismatch(f"downloaded {f.url} has {size} bytes, expected {f.size}; not kept")


def from_cache(ds: TextDataset, fetch: bool = True) -> tuple[Path, dict[str, str]]:
    """The cache folder, filled by download where files are missing or corrupt (if `fetch`)."""
    folder = cache_root() / ds.name
    hashes = {}
    for f in ds.needed():
        path = folder / f.name
        sha = file_sha256(path) if path.is_file() else None
        if sha is None or (f.sha256 is not None and sha != f.sha256):
            if not fetch:
                raise DatasetUnavailable(
                    f"{ds.name}: {f.name} is not in the cache {folder}; a training run never downloads "
                    f"(runs at once would race): the loop fetches the data before its first run, "
                    f"or run `python -m datasets {ds.name}`.\n" + how_to_provide(ds))
            sha = download(f, path, ds)
        hashes[f.name] = sha
    return folder, hashes


def locate(ds: TextDataset, data_dir: str | os.PathLike | None,
           fetch: bool = True) -> tuple[Path, dict[str, str]]:
    """Where the files are, and their sha256: data_dir, then $RESEARCH_DATA_DIR, then the
    cache (downloading what it lacks, if `fetch`)."""
    user_dir = data_dir or os.environ.get(ENV_VAR)
    if user_dir:
        folder = local_dir(ds, user_dir)
        return folder, verify_local(ds, folder)
    return from_cache(ds, fetch)


def read_split(folder: Path, split: Split) -> np.ndarray:
    data = np.fromfile(folder / split.file, dtype=np.uint8)
    lo, hi = split_bounds(len(data), split)
    return data[lo:hi]


def combined_sha256(hashes: dict[str, str]) -> str:
    """One file: its own hash. Several: a hash of the sorted `name sha` lines."""
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    lines = "".join(f"{name} {sha}\n" for name, sha in sorted(hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()
