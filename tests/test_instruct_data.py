"""The shipped alignment data: reproducible, split cleanly, TRL-shaped, checkable, validated."""

from __future__ import annotations

import json

import pytest

from solar_lab import instruct_data
from solar_lab.instruct_data import (
    INSTRUCTION_COLUMNS,
    PREFERENCE_COLUMNS,
    load,
    read_jsonl,
    shows_preference,
    validate_rows,
)


def test_shipped_files_equal_a_fresh_regeneration(tmp_path):
    for name, rows in instruct_data.make_all().items():
        fresh = tmp_path / name
        instruct_data.write_jsonl(rows, fresh)
        shipped = instruct_data.data_path(*_key(name))
        assert shipped.read_bytes() == fresh.read_bytes(), f"{name} is stale: run tools/make_alignment_data.py"


def _key(name: str) -> tuple[str, str]:
    return next(key for key, file in instruct_data.FILES.items() if file == name)


def test_sizes_and_held_out_prompts_never_in_training():
    preference = load("preference", "train") + load("preference", "held_out")
    assert len(preference) >= 1000
    held_out = {row["prompt"] for row in load("preference", "held_out") + load("instruct", "held_out")}
    trained = {row["prompt"] for row in load("preference", "train") + load("instruct", "train")}
    assert len(held_out) >= 100 and not held_out & trained
    assert {row["kind"] for row in load("preference", "held_out")} == set(instruct_data.KINDS)


def test_trl_reads_the_files_with_its_column_names():
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(instruct_data.data_path("preference", "held_out")), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert dataset[0]["prompt"] == load("preference", "held_out")[0]["prompt"]


def test_chosen_shows_the_preference_and_rejected_does_not():
    rows = instruct_data.make_preferences()
    assert all(shows_preference(row, row["chosen"]) for row in rows)
    assert not any(shows_preference(row, row["rejected"]) for row in rows)


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
    rows = instruct_data.make_preferences()
    assert max(len(row["prompt"]) + max(len(row["chosen"]), len(row["rejected"])) for row in rows) < 200


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
