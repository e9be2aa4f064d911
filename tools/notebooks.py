"""Run notebooks in place, or sync their Colab badges and install cells with solar_lab.project.

    python tools/notebooks.py run notebooks/01_layer_surgery.ipynb   # execute, save outputs
    python tools/notebooks.py sync notebooks/*.ipynb                 # rewrite badge + install spec
    python tools/notebooks.py sync --check notebooks/*.ipynb         # exit 1 if anything is stale
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from solar_lab.project import colab_badge, install_spec

ROOT = Path(__file__).resolve().parents[1]
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$", re.MULTILINE)
INSTALL_SPEC = re.compile(r'"solar-lab(?:\[(?P<extras>[^\]]*)\])? @ git\+[^"]*"')


def save(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook atomically (temporary name, then rename)."""
    temporary = path.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, path)


def run(path: Path, timeout: int) -> float:
    """Execute a notebook top to bottom in a fresh kernel and store its outputs."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    notebook.metadata.pop("widgets", None)
    save(notebook, path)
    return time.perf_counter() - start


def synced(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The notebook with its badge and install spec derived from solar_lab.project."""
    relative = path.resolve().relative_to(ROOT).as_posix()
    first = notebook.cells[0]
    first.source = BADGE_LINE.sub(lambda _: colab_badge(relative), first.source, count=1)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = INSTALL_SPEC.sub(
                lambda match: f'"{install_spec(tuple(filter(None, (match["extras"] or "").split(","))))}"',
                cell.source,
            )
    return notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "sync"))
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="with sync: report stale notebooks, change nothing")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell when running")
    args = parser.parse_args()
    stale = []
    for path in args.paths:
        if args.action == "run":
            print(f"{path}: ran in {run(path, args.timeout):.1f} s", flush=True)
            continue
        before = nbformat.read(path, as_version=4)
        after = synced(nbformat.read(path, as_version=4), path)
        if before != after:
            stale.append(path)
            if not args.check:
                save(after, path)
    for path in stale:
        print(f"{path}: {'stale' if args.check else 'synced'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
