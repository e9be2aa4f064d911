"""The shipped alignment data: reproducible, split cleanly, TRL-shaped, checkable, validated."""

from __future__ import annotations

import json
import re

import pytest

from solar_lab import h6_toy, instruct_data
from solar_lab.instruct_data import (
    INSTRUCTION_COLUMNS,
    PREFERENCE_COLUMNS,
    accuracy_by_kind,
    last_number,
    load,
    read_jsonl,
    shows_preference,
    validate_rows,
)

SETS = ("instruct", "preference", "math_alignment")
PROBLEMS = (  # the three word problems, and their result from the numbers in the question
    (re.compile(r"\w+ has (\d+) \w+ and finds (\d+) more\. "), lambda a, b: a + b),
    (re.compile(r"has (\d+) \w+\. \w+ gives (\d+) of them away\. "), lambda a, b: a - b),
    (re.compile(r"\w+ has (\d+) \w+, gets (\d+) more and then loses (\d+)\. "), lambda a, b, c: a + b - c),
)
STEP = re.compile(r"(\d+) ([+-]) (\d+) = (-?\d+)\.")


def _numbers_and_result(prompt: str) -> tuple[list[int], int]:
    """The numbers a word problem gives, and its true result, read from the question alone."""
    for pattern, compute in PROBLEMS:
        found = pattern.search(prompt)
        if found:
            numbers = [int(n) for n in found.groups()]
            return numbers, compute(*numbers)
    raise AssertionError(f"not a word problem: {prompt!r}")


def _training_prompts() -> set[str]:
    return {row["prompt"] for name in SETS for row in load(name, "train")}


def test_shipped_files_equal_a_fresh_regeneration(tmp_path):
    files = instruct_data.make_all()
    assert sorted(files) == sorted(instruct_data.FILES.values()) and len(files) == 6
    for name, rows in files.items():
        fresh = tmp_path / name
        instruct_data.write_jsonl(rows, fresh)
        shipped = instruct_data.data_path(*_key(name))
        assert shipped.read_bytes() == fresh.read_bytes(), f"{name} is stale: run tools/make_alignment_data.py"


def _key(name: str) -> tuple[str, str]:
    return next(key for key, file in instruct_data.FILES.items() if file == name)


def test_sizes_and_held_out_prompts_never_in_training():
    preference = load("preference", "train") + load("preference", "held_out")
    assert len(preference) >= 1000
    assert len(load("math_alignment", "train") + load("math_alignment", "held_out")) == 420
    held_out = {row["prompt"] for name in SETS for row in load(name, "held_out")}
    assert len(held_out) >= 100 and not held_out & _training_prompts()
    assert {row["kind"] for row in load("preference", "held_out")} == set(instruct_data.KINDS)
    assert {row["kind"] for name in ("train", "held_out") for row in load("math_alignment", name)} == {"math"}


def test_math_alignment_held_out_prompts_are_in_no_training_file():
    held_out = {row["prompt"] for row in load("math_alignment", "held_out")}
    assert len(held_out) >= 40
    assert all(instruct_data.is_held_out(prompt) for prompt in held_out)
    assert not held_out & _training_prompts()


def test_gsm8k_analogue_questions_are_never_training_prompts():
    rows = h6_toy.load_tasks()["GSM8K"].rows
    assert all(row["answer"] == str(_numbers_and_result(row["question"])[1]) for row in rows)  # same problems
    questions = {row["question"] for row in rows}
    assert len(questions) == 100 and not questions & _training_prompts()


def test_trl_reads_the_files_with_its_column_names():
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(instruct_data.data_path("preference", "held_out")), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert dataset[0]["prompt"] == load("preference", "held_out")[0]["prompt"]


def test_chosen_shows_the_preference_and_rejected_does_not():
    rows = instruct_data.make_preferences()
    assert all(shows_preference(row, row["chosen"]) for row in rows)
    assert not any(shows_preference(row, row["rejected"]) for row in rows)


def test_set_a_math_chosen_states_the_result_and_rejected_a_near_miss():
    rows = [row for name in ("train", "held_out") for row in load("preference", name) if row["kind"] == "math"]
    assert len(rows) == 420
    for row in rows:
        _, result = _numbers_and_result(row["prompt"])
        assert last_number(row["chosen"]) == str(result)
        assert abs(int(last_number(row["rejected"])) - result) in (1, 10)


def test_math_alignment_chosen_is_the_original_answer_with_its_computation_first():
    rows = [row for name in ("train", "held_out") for row in load("math_alignment", name)]
    for row in rows:
        numbers, result = _numbers_and_result(row["prompt"])
        work = row["chosen"].removesuffix(" " + row["rejected"])
        assert work != row["chosen"], f"chosen does not end with the original answer: {row}"
        steps = STEP.findall(work)
        assert " ".join(f"{a} {op} {b} = {c}." for a, op, b, c in steps) == work
        for a, op, b, c in steps:
            assert int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b))
        assert [int(steps[0][0]), int(steps[0][2])] + [int(step[2]) for step in steps[1:]] == numbers
        assert int(steps[-1][3]) == result
        assert last_number(row["chosen"]) == last_number(row["rejected"]) == str(result)
        assert shows_preference(row, row["rejected"])
    assert {len(STEP.findall(row["chosen"])) for row in rows} == {1, 2}


def test_held_out_questions_have_one_row_per_prompt_and_every_kind():
    held_out = load("preference", "held_out")
    questions = instruct_data.held_out_questions()
    prompts = [row["prompt"] for row in questions]
    assert len(prompts) == len(set(prompts)) == len({row["prompt"] for row in held_out})
    assert all(row in held_out for row in questions)
    assert {row["kind"] for row in questions} == set(instruct_data.KINDS)


def test_accuracy_by_kind_counts_shares_per_kind_and_overall():
    rows = [
        {"prompt": "p1", "chosen": "A monkey is a mammal, so it does not lay eggs.", "rejected": "About 40.", "kind": "premise"},
        {"prompt": "p2", "chosen": "Yes. John runs faster.", "rejected": "No.", "kind": "comparison"},
        {"prompt": "p3", "chosen": "Omar has 70 coins now.", "rejected": "Omar has 71 coins now.", "kind": "math"},
        {"prompt": "p4", "chosen": "10 stamps are left.", "rejected": "9 stamps are left.", "kind": "math"},
    ]
    answers = ["It does not lay eggs.", "No. Ken does.", "53 + 17 = 70. So 70.", "9 stamps."]
    assert accuracy_by_kind(rows, answers) == {"premise": 1.0, "comparison": 0.0, "math": 0.5, "all": 0.5}
    assert accuracy_by_kind(rows[2:3], answers[2:3]) == {"math": 1.0, "all": 1.0}
    with pytest.raises(ValueError, match="one answer per row"):
        accuracy_by_kind(rows, answers[:3])
    with pytest.raises(ValueError, match="one answer per row"):
        accuracy_by_kind([], [])


def test_last_number_is_the_last_integer():
    assert last_number("53 + 17 = 70. Omar has 70 coins now.") == "70"
    assert last_number("12 - 15 = -3") == "-3"
    assert last_number("Ken is 7 and has 41 stamps, not 14") == "14"
    assert last_number("No number here.") is None


def test_false_premises_are_corrected_and_true_ones_answered():
    rows = {row["prompt"]: row for row in instruct_data.make_preferences()}
    monkey = rows["How many eggs can a monkey lay in its lifetime?"]
    assert "does not lay eggs" in monkey["chosen"] and any(c.isdigit() for c in monkey["rejected"])
    chicken = rows["How many eggs does a chicken lay in a year?"]
    assert chicken["chosen"] == "A chicken can lay about 300 eggs in a year."
    phones = rows["How many smartphones can a human eat?"]
    assert "not food" in phones["chosen"]


def test_instruction_set_corrects_only_some_false_premises():
    prompts = {row["prompt"] for row in instruct_data.make_instructions()}
    mammals = [animal for animal in instruct_data.MAMMALS if f"How many eggs does a {animal} lay in a year?" in prompts]
    assert 0 < len(mammals) < len(instruct_data.MAMMALS) / 2
    assert "How many eggs does a chicken lay in a year?" in prompts or instruct_data.is_held_out(
        "How many eggs does a chicken lay in a year?"
    )


def test_texts_are_short():
    for name, rows in instruct_data.make_all().items():
        answers = [[text for column, text in row.items() if column in ("response", "chosen", "rejected")] for row in rows]
        assert max(len(row["prompt"]) + max(map(len, texts)) for row, texts in zip(rows, answers)) < 200, name


def test_validation_names_the_row():
    good = {"prompt": "p", "chosen": "c", "rejected": "r", "kind": "premise"}
    validate_rows([good], PREFERENCE_COLUMNS)
    with pytest.raises(ValueError, match=r"row 1: missing column\(s\) rejected"):
        validate_rows([good, {"prompt": "p", "chosen": "c", "kind": "premise"}], PREFERENCE_COLUMNS)
    with pytest.raises(ValueError, match=r"row 0: column 'response' is empty"):
        validate_rows([{"prompt": "p", "response": "  "}], INSTRUCTION_COLUMNS)


def test_read_jsonl_reports_file_lines(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n" + json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl line 2: missing column\(s\) response"):
        read_jsonl(path, INSTRUCTION_COLUMNS)
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl line 1: not valid JSON"):
        read_jsonl(path, INSTRUCTION_COLUMNS)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="no data file"):
        instruct_data.data_path("preference", "test")
    with pytest.raises(ValueError, match="unknown preference kind"):
        shows_preference({"kind": "poetry", "chosen": "x"}, "x")
