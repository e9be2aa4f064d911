"""Write the student edition of the notebooks: solutions replaced by stubs, everything else kept.

    python tools/student.py notebooks/*.ipynb            # write notebooks/student/*.ipynb
    python tools/student.py --check notebooks/*.ipynb    # exit 1 if a student file is stale

The committed notebooks are the instructor edition. In it, each exercise's answer is a code
cell tagged ``solution``; the student edition replaces that cell with a stub made from it:
each assignment becomes ``name = None``, each function keeps its signature and docstring and
raises ``NotImplementedError``, imports stay. The cell after it checks the answer; its stored
output becomes what that check prints when nothing is answered ("not yet"), so the student
edition runs under nbval with its exercises unsolved. The Colab badge points at the student
file. Every other cell, with its outputs, is the instructor edition's.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import sys
from collections import defaultdict
from pathlib import Path

import nbformat

from solar_lab import exercises
from notebooks import synced, write_changed  # tools/notebooks.py: scripts in tools/ import each other

SOLUTION_TAG = "solution"
STUDENT_DIR = "student"
STUB_HEADER = "# Your answer: replace each None (or write the function's body), then run the check below."


def stub(source: str) -> str:
    """The student's starting point for a solution cell's ``source``."""
    lines = source.splitlines()
    parts = [STUB_HEADER]
    for statement in ast.parse(source).body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            parts.append(ast.get_source_segment(source, statement))
        elif isinstance(statement, ast.Assign):
            parts.append(" = ".join(ast.unparse(target) for target in statement.targets) + " = None")
        elif isinstance(statement, ast.FunctionDef):
            first_body = statement.body[0]
            has_docstring = isinstance(first_body, ast.Expr) and isinstance(first_body.value, ast.Constant)
            keep_until = first_body.end_lineno if has_docstring else statement.body[0].lineno - 1
            header = "\n".join(lines[statement.lineno - 1 - len(statement.decorator_list) : keep_until])
            indent = " " * first_body.col_offset
            parts.append(f"{header}\n{indent}raise NotImplementedError  # your code here")
    return "\n".join(parts)


def unanswered_output(check_source: str) -> list[nbformat.NotebookNode]:
    """What a check cell prints when every answer is still None: run it with every other name None."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        names = defaultdict(lambda: None, exercises=exercises)
        exec(compile(check_source, "<check cell>", "exec"), {"__builtins__": __builtins__}, names)
    text = printed.getvalue()
    return [nbformat.v4.new_output("stream", name="stdout", text=text)] if text else []


def student_edition(notebook: nbformat.NotebookNode, student_path: Path) -> nbformat.NotebookNode:
    """The student edition of an instructor ``notebook`` that will live at ``student_path``."""
    edition = copy.deepcopy(notebook)
    cells = edition.cells
    for number, cell in enumerate(cells):
        if SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        cell.source = stub(cell.source)
        cell.outputs, cell.execution_count = [], None
        check = cells[number + 1] if number + 1 < len(cells) else None
        if check is None or check.cell_type != "code":
            raise ValueError(f"cell {number} is a solution without a check cell after it")
        check.outputs = unanswered_output(check.source)
    return synced(edition, student_path)


def student_path(path: Path) -> Path:
    """Where the student edition of the notebook at ``path`` lives."""
    return path.parent / STUDENT_DIR / path.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report stale student files, write nothing")
    args = parser.parse_args()
    missing = [path for path in args.paths if not path.is_file()]
    if missing:
        print(f"tools/student.py: no such notebook: {missing[0]}", file=sys.stderr)
        return 2
    editions = {student_path(path): student_edition(nbformat.read(path, as_version=4), student_path(path)) for path in args.paths}
    return write_changed(editions, args.check, "written")


if __name__ == "__main__":
    sys.exit(main())
