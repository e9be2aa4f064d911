"""The student edition: what `make student` makes from the committed notebooks, and nothing else."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from _tools import load_tool

student = load_tool("student")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_committed_student_edition_is_what_make_student_writes(path):
    target = student.student_path(path)
    assert target.is_file(), f"{target} is missing: run make student"
    assert nbformat.read(target, as_version=4) == student.student_edition(nbformat.read(path, as_version=4), target)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_solutions_become_stubs_and_everything_else_stays(path):
    instructor = nbformat.read(path, as_version=4)
    edition = nbformat.read(student.student_path(path), as_version=4)
    assert len(edition.cells) == len(instructor.cells)
    solutions = 0
    for number, (theirs, ours) in enumerate(zip(instructor.cells, edition.cells)):
        if "solution" in theirs.metadata.get("tags", []):
            solutions += 1
            assert ours.source.startswith(student.STUB_HEADER) and ours.outputs == []
            assert ours.source != theirs.source
            assert "not yet" in "".join(output.get("text", "") for output in edition.cells[number + 1].outputs)
        elif number == 0:
            assert f"notebooks/student/{path.name}" in ours.source
        elif number - 1 < 0 or "solution" not in instructor.cells[number - 1].metadata.get("tags", []):
            assert ours == theirs, f"cell {number} differs"
    assert solutions >= 4


def test_a_stub_keeps_signatures_docstrings_and_imports():
    source = (
        "import math\n"
        "my_answer = round(math.pi, 2)\n"
        "first = second = 3\n"
        "def area(radius: float) -> float:\n"
        '    """The area of a circle."""\n'
        "    return math.pi * radius**2\n"
        "def bare(x):\n"
        "    return x\n"
    )
    stub = student.stub(source)
    assert stub.splitlines()[1:] == [
        "import math",
        "my_answer = None",
        "first = second = None",
        "def area(radius: float) -> float:",
        '    """The area of a circle."""',
        "    raise NotImplementedError  # your code here",
        "def bare(x):",
        "    raise NotImplementedError  # your code here",
    ]
    namespace: dict = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError):
        namespace["area"](1.0)


def test_unanswered_output_is_what_the_checks_print_with_none():
    source = 'from solar_lab import exercises\n\nexercises.check("m = 4: depth", my_depth)\nexercises.check_function("destinations", destinations);'
    (output,) = student.unanswered_output(source)
    assert output.text == (
        "m = 4: depth: not yet — replace None with your answer.\n"
        "destinations: not yet — write the function's body, then run this cell again.\n"
    )

