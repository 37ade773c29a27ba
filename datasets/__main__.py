"""Fetch and verify a corpus before training by hand: `python -m datasets NAME [--data-dir DIR]`.

The loop does this itself before its first run; `python -m executor.train` never downloads.
"""
import argparse
import sys

import datasets


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m datasets", description=__doc__.splitlines()[0])
    p.add_argument("name", choices=datasets.dataset_names())
    p.add_argument("--data-dir", help="a local copy to verify instead of the cache")
    args = p.parse_args(argv)
    try:
        sha = datasets.prepare(args.name, args.data_dir)
    except (datasets.DatasetUnavailable, datasets.ChecksumMismatch) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.name}: ready" + (f" (sha256 {sha})" if sha else " (generated, nothing to fetch)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
