"""Notebook 03's per-kind scores: held-out set, rank/reward accuracy by kind, generation score, measure."""

from __future__ import annotations

import pytest
import torch

from _align_fixtures import make_model, make_tokenizer, preferences
from solar_lab import dpo, instruct_data, sft, toy
from solar_lab.preference_eval import (
    accuracy_by_kind, completes, extraction_rate, generation_by_kind, held_out_set, measure,
)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def rows_of_every_kind(per_kind: int) -> list[dict[str, str]]:
    rows = preferences()
    return [row for kind in instruct_data.KINDS for row in [r for r in rows if r["kind"] == kind][:per_kind]]


def test_held_out_set_keeps_every_pair_and_the_first_distinct_prompts_of_each_kind(tokenizer):
    rows = rows_of_every_kind(6)
    rows.insert(1, dict(rows[0]))  # a repeated prompt is answered once
    held_out = held_out_set(tokenizer, rows, 256, prompts_per_kind=2)
    assert len(held_out.pairs) == len(held_out.kinds) == len(rows) and held_out.kinds[:2] == ["facts", "facts"]
    prompts = [r["prompt"] for r in held_out.generation_rows]
    assert [r["kind"] for r in held_out.generation_rows] == [k for k in instruct_data.KINDS for _ in range(2)]
    assert len(set(prompts)) == 2 * len(instruct_data.KINDS) and prompts[:2] == [rows[0]["prompt"], rows[2]["prompt"]]
    assert held_out.pad_id == sft.pad_token_id(tokenizer)


def test_accuracy_by_kind_scores_each_kind_on_its_own_pairs():
    kinds = ["premise", "comparison", "premise", "math", "comparison", "math", "facts", "series", "series"]
    chosen = torch.tensor([1.0, 0.0, 1.0, 5.0, 2.0, 0.0, 1.0, 3.0, 3.0])
    rejected = torch.tensor([0.0, 1.0, 3.0, 4.0, 1.0, 0.0, 0.0, 1.0, 1.0])  # the sixth pair ties: not a win
    expected = {"facts": 1.0, "premise": 0.5, "comparison": 0.5, "math": 0.5, "series": 1.0}
    assert accuracy_by_kind(chosen, rejected, kinds) == expected
    with pytest.raises(ValueError, match="one kind per pair"):
        accuracy_by_kind(chosen, rejected, kinds[:-1])


def test_generation_by_kind_applies_shows_preference():
    rows = rows_of_every_kind(2)
    answers = [row["chosen"] if number % 4 != 1 else row["rejected"] for number, row in enumerate(rows)]
    expected = {"facts": 0.5, "premise": 1.0, "comparison": 0.5, "math": 1.0, "series": 0.5}
    assert generation_by_kind(rows, answers) == expected
    assert generation_by_kind(rows, [row["chosen"] for row in rows]) == dict.fromkeys(instruct_data.KINDS, 1.0)
    with pytest.raises(ValueError, match="kind 'series'"):
        generation_by_kind(rows[:-2], answers[:-2])


def test_measure_agrees_with_the_pieces_it_is_made_of(tokenizer):
    held_out = held_out_set(tokenizer, rows_of_every_kind(4), 256, prompts_per_kind=2)
    model = make_model(len(tokenizer), seed=3)
    reference_logps = dpo.all_pair_logps(model, held_out.pairs, held_out.pad_id)
    scores, answers = measure(model, tokenizer, held_out, reference_logps, max_new_tokens=4)
    chosen, rejected = reference_logps
    assert list(scores) == [f"{name} {kind}" for kind in instruct_data.KINDS for name in ("rank", "reward", "generate")]
    for kind, accuracy in accuracy_by_kind(chosen, rejected, held_out.kinds).items():
        assert scores[f"rank {kind}"] == accuracy
        assert scores[f"reward {kind}"] == 0.0  # the model is its own reference: every reward is 0, no strict win
    assert answers == sft.generate(model, tokenizer, [r["prompt"] for r in held_out.generation_rows], 4)
    without_reference, _ = measure(model, tokenizer, held_out, max_new_tokens=4)
    assert list(without_reference) == [
        f"{name} {kind}" for kind in instruct_data.KINDS for name in ("rank", "generate")
    ]


def test_extraction_rate_counts_only_the_facts_the_pretrained_model_completes():
    known = [True, True, False, True, False]
    answered = [True, False, True, True, False]  # the third is right but was never stored: not counted
    assert extraction_rate(known, answered) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one answer per fact"):
        extraction_rate(known, answered[:3])
    with pytest.raises(ValueError, match="at least one fact"):
        extraction_rate([False, False], [True, True])


def test_completes_asks_for_the_value_in_biography_form(tokenizer):
    model, shipped_tokenizer = toy.load("toy-solar-base")
    facts = [row for row in instruct_data.load("instruct", "held_out") if row["kind"] == "facts"][:40]
    known = completes(model, shipped_tokenizer, facts)
    by_hand = []
    for row in facts:
        context, value = instruct_data.fact_completion(row)
        with torch.no_grad():
            logits = model(torch.tensor([shipped_tokenizer(context)["input_ids"]])).logits[0, -1]
        by_hand.append(shipped_tokenizer.decode([int(logits.argmax())]).strip() == value)
    assert known == by_hand and sum(known) >= 30  # the base stored most of these facts
    with pytest.raises(ValueError, match="not one token"):  # a tokenizer that splits the values
        completes(model, tokenizer, facts[:1])
