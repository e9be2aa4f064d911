"""Instruction tuning: SOLAR's prompt template, response-only labels, batches and a training loop."""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from solar_lab.prompt import solar_prompt
from solar_lab.training import fit, on_device, shuffled_batches

IGNORE = -100
"""Label value that cross-entropy skips: prompt tokens and padding carry no loss."""


def encode(
    tokenizer: PreTrainedTokenizerBase, prompt: str, response: str, max_length: int, where: str = "row"
) -> dict[str, list[int]]:
    """Token ids of template(prompt) + response + EOS, with labels only on the response and EOS."""
    prompt_ids = tokenizer(solar_prompt(prompt))["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    length = len(prompt_ids) + len(response_ids)
    if length > max_length:
        raise ValueError(
            f"{where}: prompt and response take {length} tokens, more than max_length={max_length}; "
            "shorten the texts or raise max_length"
        )
    return {"input_ids": prompt_ids + response_ids, "labels": [IGNORE] * len(prompt_ids) + response_ids}


def encode_rows(
    tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]], max_length: int, response: str = "response"
) -> list[dict[str, list[int]]]:
    """Encode every row's ``prompt`` and ``response`` column; an error names the row."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens, got {max_length}")
    return [
        encode(tokenizer, row["prompt"], row[response], max_length, where=f"row {index}")
        for index, row in enumerate(rows)
    ]


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The padding id: the tokenizer's own, else EOS (padding is masked out anyway), as TRL does."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded examples into tensors (padding masked out of attention and loss)."""
    width = max(len(example["input_ids"]) for example in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        input_ids[row, :length] = torch.tensor(example["input_ids"])
        labels[row, :length] = torch.tensor(example["labels"])
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def response_loss(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over response tokens (transformers shifts the labels)."""
    return model(**on_device(model, **batch)).loss


def train_sft(
    model: PreTrainedModel,
    examples: list[dict[str, list[int]]],
    pad_id: int,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Instruction-tune ``model`` in place with ``training.fit``; returns the loss of every step.

    Batches of ``examples`` in shuffled epochs (``seed`` fixes the order), constant learning rate.
    """
    batches = shuffled_batches(len(examples), batch_size, seed)
    return fit(
        model,
        lambda: collate([examples[i] for i in next(batches)], pad_id),
        lambda batch: response_loss(model, batch),
        steps,
        lr=lr,
        desc="instruction tuning",
        progress=progress,
    )


@torch.no_grad()
def greedy_batch(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, encoded: list[list[int]], pad_id: int, max_new_tokens: int
) -> list[list[int]]:
    """Greedy new tokens after each of ``encoded`` (token id lists), left-padded into one batch on ``model.device``."""
    width = max(len(ids) for ids in encoded)
    input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in encoded], device=model.device)
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=model.device)
    output = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=pad_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return output[:, width:].tolist()


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int = 32,
    batch_size: int = 64,
) -> list[str]:
    """Greedy answers to ``prompts`` (each wrapped in SOLAR's template), without the prompt."""
    model.eval()
    answers = []
    for start in range(0, len(prompts), batch_size):
        encoded = [tokenizer(solar_prompt(p))["input_ids"] for p in prompts[start : start + batch_size]]
        new_tokens = greedy_batch(model, tokenizer, encoded, pad_token_id(tokenizer), max_new_tokens)
        answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [answer.strip() for answer in answers]
