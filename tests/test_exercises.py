"""The exercises' checks: right and not-yet verdicts, hints from the second miss, coding checks on unseen cases."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from solar_lab import exercises
from solar_lab.dus import DusPlan

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def fresh_misses():
    exercises.MISSES.clear()
    yield
    exercises.MISSES.clear()


def test_every_exercise_has_a_computable_answer():
    for name, exercise in exercises.EXERCISES.items():
        assert exercise.expected() is not None, name
        assert exercise.hint, name


def verdicts(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_value_check_says_right_not_yet_and_hints_from_the_second_miss(capsys):
    for answer in (56, None, 55, 57):
        exercises.check("m = 4: depth", answer)
    lines = verdicts(capsys)
    assert lines[0] == "m = 4: depth: right ✓"
    assert lines[1] == "m = 4: depth: not yet — replace None with your answer."
    assert "Hint" not in lines[2] and "Try again" in lines[2]
    assert lines[3].endswith("Hint: s = 2·(n − m)")


def test_numbers_within_tolerance_are_right_words_must_match(capsys):
    exercises.check("dpo-loss", 0.127)
    exercises.check("dpo-loss", 0.13)
    exercises.check("SOLAR layer 31 comes from", "copy")
    exercises.check("SOLAR layer 31 comes from", "original")
    beats = exercises.EXERCISES["up-scaled beats equal compute"].expected()
    exercises.check("up-scaled beats equal compute", int(beats))  # a bool answer, not a number
    exercises.check("up-scaled beats equal compute", beats)
    exercises.check("loss-tokens", np.int64(exercises.EXERCISES["loss-tokens"].expected()))  # a numpy integer
    right = [": right ✓" in line for line in verdicts(capsys)]
    assert right == [True, False, True, False, False, True, True]


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(ValueError, match="no exercise 'nope'; the exercises are: "):
        exercises.check("nope", 1)
    with pytest.raises(ValueError, match="no coding exercise 'nope'"):
        exercises.check_function("nope", print)


def solution_functions() -> dict[str, object]:
    """The instructor edition's solution functions, defined from the notebooks' own cells."""
    functions = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if "solution" in cell.metadata.get("tags", []) and "def " in cell.source:
                namespace = {"np": np, "torch": torch, "DusPlan": DusPlan}
                exec(cell.source, namespace)
                functions.update({name: value for name, value in namespace.items() if callable(value) and name not in ("DusPlan",)})
    return functions


@pytest.mark.parametrize(
    "exercise, function",
    [("destinations", "destinations"), ("upscaled state dict", "upscale_state_dict"), ("dpo_loss", "my_dpo_loss"),
     ("q4_0", "my_q4_0")],
)
def test_the_notebooks_solutions_pass_their_coding_checks(exercise, function, capsys):
    exercises.check_function(exercise, solution_functions()[function])
    assert verdicts(capsys) == [f"{exercise}: right ✓ (all {len(exercises.CODING[exercise].cases())} cases match)"]


def test_a_wrong_function_is_caught_on_some_case(capsys):
    exercises.check_function("destinations", lambda source, n, m: [source])
    exercises.check_function("dpo_loss", lambda pc, pr, rc, rr, beta: (pc - pr) * beta)
    exercises.check_function("q4_0", lambda weights: weights)  # no rounding at all
    lines = verdicts(capsys)
    assert len(lines) == 3 and all(": not yet — case " in line for line in lines)


def test_an_unwritten_or_crashing_function_is_not_yet_without_a_traceback(capsys):
    def unwritten(source, n, m):
        raise NotImplementedError

    exercises.check_function("destinations", unwritten)
    exercises.check_function("destinations", None)
    exercises.check_function("destinations", lambda source, n, m: 1 / 0)
    out = capsys.readouterr().out
    assert out.count("write the function's body") == 2
    assert "raised ZeroDivisionError: division by zero" in out and "Traceback" not in out


def check_calls(source: str) -> list[ast.Call]:
    """The exercises.check / check_function calls in a cell (IPython's % and ! lines read as pass)."""
    lines = source.splitlines()
    source = "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip()[:1] in ("%", "!") else line for line in lines)
    return [
        node for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("check", "check_function") and getattr(node.func.value, "id", "") == "exercises"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_check_call_carries_its_expected_value(path):
    notebook = nbformat.read(path, as_version=4)
    calls = [call for cell in notebook.cells if cell.cell_type == "code" for call in check_calls(cell.source)]
    assert calls, "a notebook without exercises"
    for call in calls:
        assert len(call.args) == 2 and not call.keywords, ast.unparse(call)
        assert isinstance(call.args[0], ast.Constant) and isinstance(call.args[1], ast.Name), ast.unparse(call)
        registry = exercises.EXERCISES if call.func.attr == "check" else exercises.CODING
        assert call.args[0].value in registry


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_each_notebook_has_a_coding_exercise_a_quiz_and_references(path):
    notebook = nbformat.read(path, as_version=4)
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert "exercises.check_function(" in sources
    assert re.search(r'quiz\.show\("\d\d"\)', sources)
    references = next(cell.source for cell in notebook.cells if cell.source.startswith("## References"))
    assert len(re.findall(r"^- .*\(\d{4}(–)?\)\. .*https://", references, re.MULTILINE)) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_check_passes_in_the_instructor_edition(path):
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and check_calls(cell.source):
            printed = "".join(output.get("text", "") for output in cell.outputs)
            verdicts = printed.splitlines()
            assert len(verdicts) == len(check_calls(cell.source)), f"cell {number}: {printed!r}"
            assert all(": right ✓" in line for line in verdicts), f"cell {number}: {printed!r}"
