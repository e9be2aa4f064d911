"""Instruction tuning: the template, response-only labels, padding, the loop and generation."""

from __future__ import annotations

import pytest
import torch

from _align_fixtures import make_model, make_tokenizer
from _device_fixtures import ELSEWHERE, ElsewhereModel
from solar_lab import instruct_data
from solar_lab.prompt import solar_prompt
from solar_lab.sft import IGNORE, collate, encode, encode_rows, generate, pad_token_id, train_sft


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def test_encode_masks_the_prompt_and_ends_with_eos(tokenizer):
    example = encode(tokenizer, "How many eggs can a cow lay in a year?", "A cow is a mammal.", 256)
    ids, labels = example["input_ids"], example["labels"]
    prompt_length = len(tokenizer(solar_prompt("How many eggs can a cow lay in a year?"))["input_ids"])
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert labels[:prompt_length] == [IGNORE] * prompt_length
    assert labels[prompt_length:] == ids[prompt_length:]
    assert tokenizer.decode(ids[prompt_length:], skip_special_tokens=True).strip() == "A cow is a mammal."


def test_encode_rows_names_the_row_that_does_not_fit(tokenizer):
    rows = [{"prompt": "What is 2 + 2?", "response": "4."}, {"prompt": "What is 3 + 3? " * 30, "response": "6."}]
    assert len(encode_rows(tokenizer, rows[:1], 64)) == 1
    with pytest.raises(ValueError, match=r"row 1: .* more than max_length=64"):
        encode_rows(tokenizer, rows, 64)


def test_collate_pads_right_and_masks_padding():
    examples = [{"input_ids": [1, 5, 6], "labels": [IGNORE, 5, 6]}, {"input_ids": [1, 7], "labels": [IGNORE, 7]}]
    batch = collate(examples, pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 5, 6], [1, 7, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 5, 6], [IGNORE, 7, IGNORE]]


def test_loss_ignores_prompt_tokens(tokenizer):
    model = make_model(len(tokenizer))
    example = encode(tokenizer, "What is 12 + 30?", "12 + 30 = 42.", 256)
    batch = collate([example], pad_token_id(tokenizer))
    logits = model(input_ids=batch["input_ids"]).logits[0, :-1]
    targets = batch["labels"][0, 1:]
    kept = targets != IGNORE
    manual = torch.nn.functional.cross_entropy(logits[kept], targets[kept])
    assert model(**batch).loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert kept.sum().item() == len(tokenizer("12 + 30 = 42.", add_special_tokens=False)["input_ids"]) + 1


def test_training_teaches_an_answer_that_generation_returns(tokenizer):
    rows = [row for row in instruct_data.load("instruct", "train") if "monkey" in row["prompt"]][:1]
    examples = encode_rows(tokenizer, rows, 256)
    model = make_model(len(tokenizer), layers=1)
    before = generate(model, tokenizer, [rows[0]["prompt"]], max_new_tokens=40)[0]
    losses = train_sft(model, examples, pad_token_id(tokenizer), steps=40, batch_size=1, lr=2e-2, progress=False)
    assert losses[-1] < 0.1 * losses[0]
    after = generate(model, tokenizer, [rows[0]["prompt"]], max_new_tokens=40)[0]
    assert after == rows[0]["response"] != before


def test_training_and_generation_feed_the_model_on_its_device(tokenizer):
    examples = encode_rows(tokenizer, instruct_data.load("instruct", "train")[:4], 256)
    model = ElsewhereModel(len(tokenizer), tokenizer.eos_token_id)
    losses = train_sft(model, examples, pad_token_id(tokenizer), steps=2, batch_size=2, progress=False)
    answers = generate(model, tokenizer, ["What is 2 + 2?", "Can a cow lay eggs?"], max_new_tokens=3)
    assert len(losses) == 2 and answers == ["", ""]
    assert len(model.seen) == 2 * 3 + 2 and set(model.seen) == {ELSEWHERE}  # ids, mask, labels per step; ids, mask


def test_the_seed_fixes_the_batch_order_without_touching_the_global_random_state(tokenizer):
    examples = encode_rows(tokenizer, instruct_data.load("instruct", "train")[:8], 256)

    def run(seed: int) -> list[float]:
        model = make_model(len(tokenizer), layers=1)
        torch.manual_seed(123)
        state = torch.get_rng_state()
        losses = train_sft(model, examples, pad_token_id(tokenizer), steps=3, batch_size=2, seed=seed, progress=False)
        assert torch.equal(torch.get_rng_state(), state)
        return losses

    assert run(0) == run(0) != run(1)
