"""Regenerate the shipped instruction and preference data (solar_lab/data/*.jsonl) from a seed.

    .venv/bin/python tools/make_alignment_data.py          # writes the five JSONL files
    .venv/bin/python tools/make_alignment_data.py --check  # exit 1 if a shipped file differs
    .venv/bin/python tools/make_alignment_data.py --data /tmp/data   # write or check another folder

The rows come from solar_lab.instruct_data.make_all, about the shipped world (solar_lab.toy.world);
see solar_lab/data/DATA_CARD.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from solar_lab import instruct_data

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "solar_lab" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the files in --data, write nothing")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the files (default solar_lab/data)")
    args = parser.parse_args()
    stale = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, rows in instruct_data.make_all().items():
            target = args.data / name
            if args.check:
                fresh = Path(scratch) / name
                instruct_data.write_jsonl(rows, fresh)
                if not target.is_file() or target.read_bytes() != fresh.read_bytes():
                    stale.append(name)
                continue
            instruct_data.write_jsonl(rows, target)
            print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: {len(rows)} rows")
    for name in stale:
        print(f"{name}: differs from a fresh regeneration; run tools/make_alignment_data.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
