"""Regenerate the shipped H6-in-miniature tasks (solar_lab/data/h6_toy_*.jsonl) from their seed.

    .venv/bin/python tools/make_eval_tasks.py          # writes the six JSONL files
    .venv/bin/python tools/make_eval_tasks.py --check  # exit 1 if a shipped file differs
    .venv/bin/python tools/make_eval_tasks.py --data /tmp/data   # write or check another folder

The rows come from solar_lab.h6_toy.make_tasks; see solar_lab/data/DATA_CARD.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from solar_lab import h6_toy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "solar_lab" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the files in --data, write nothing")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the files (default solar_lab/data)")
    args = parser.parse_args()
    tasks = h6_toy.make_tasks()
    if not args.check:
        for path, rows in zip(h6_toy.save_tasks(args.data, tasks), tasks.values()):
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(rows)} rows")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        fresh = h6_toy.save_tasks(scratch, tasks)
        stale = [f.name for f in fresh
                 if not (args.data / f.name).is_file() or (args.data / f.name).read_bytes() != f.read_bytes()]
    for name in stale:
        print(f"{name}: differs from a fresh regeneration; run tools/make_eval_tasks.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
