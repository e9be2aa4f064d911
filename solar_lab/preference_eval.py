"""How each alignment stage is scored on held-out questions, per question kind.

Three numbers per kind: **rank** (the model gives the chosen answer a higher log-probability
than the rejected one), **reward** (the same ranking by DPO's implicit reward, i.e. measured
against a reference model) and **generate** (the model's own greedy answer is right,
``instruct_data.is_right``).

For the questions about people, a chat model can only answer what pretraining stored. So the
**extraction rate** counts, among the facts a pretrained model completes right when the
question is put in biography form ("Bapo Tresin was born in" → "Velis"), the share a tuned
model also answers right as a chat (Allen-Zhu & Li, *Physics of Language Models, Part 3.1*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from solar_lab import dpo, instruct_data, sft


@dataclass(frozen=True)
class HeldOut:
    """Encoded held-out pairs with their kinds, and the rows whose prompts are answered greedily."""

    pairs: list[tuple[dict, dict]]
    kinds: list[str]
    generation_rows: list[dict[str, Any]]
    pad_id: int


def held_out_set(
    tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]], max_length: int, prompts_per_kind: int = 12
) -> HeldOut:
    """All ``rows`` as pairs; the first ``prompts_per_kind`` distinct prompts of each kind for generation."""
    unique_prompts = list({row["prompt"]: row for row in rows}.values())
    generation_rows = []
    for kind in instruct_data.KINDS:
        generation_rows += [row for row in unique_prompts if row["kind"] == kind][:prompts_per_kind]
    return HeldOut(
        pairs=dpo.encode_pairs(tokenizer, rows, max_length),
        kinds=[row["kind"] for row in rows],
        generation_rows=generation_rows,
        pad_id=sft.pad_token_id(tokenizer),
    )


def accuracy_by_kind(chosen: torch.Tensor, rejected: torch.Tensor, kinds: list[str]) -> dict[str, float]:
    """``dpo.preference_accuracy`` of the pairs of each kind in ``instruct_data.KINDS``."""
    if len(kinds) != len(chosen):
        raise ValueError(f"{len(kinds)} kinds for {len(chosen)} pairs; give one kind per pair")
    picks = {kind: torch.tensor([k == kind for k in kinds]) for kind in instruct_data.KINDS}
    return {kind: dpo.preference_accuracy(chosen[pick], rejected[pick]) for kind, pick in picks.items()}


def generation_by_kind(rows: list[dict[str, Any]], answers: list[str]) -> dict[str, float]:
    """Fraction of each kind's ``answers`` that are right (``instruct_data.is_right``)."""
    scores = {}
    for kind in instruct_data.KINDS:
        right = [instruct_data.is_right(r, a) for r, a in zip(rows, answers, strict=True) if r["kind"] == kind]
        if not right:
            raise ValueError(f"no generation row of kind {kind!r}; each kind needs at least one")
        scores[kind] = sum(right) / len(right)
    return scores


def measure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    held_out: HeldOut,
    reference_logps: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_new_tokens: int = 24,
) -> tuple[dict[str, float], list[str]]:
    """Rank (and, given the reference's pair log-probs, reward) accuracy and generation score per kind.

    Returns the scores, keyed ``"rank premise"``, ``"reward premise"``, ``"generate premise"``, …,
    and the greedy answers to ``held_out.generation_rows``.
    """
    chosen, rejected = dpo.all_pair_logps(model, held_out.pairs, held_out.pad_id)
    answers = sft.generate(model, tokenizer, [r["prompt"] for r in held_out.generation_rows], max_new_tokens)
    columns = {"rank": accuracy_by_kind(chosen, rejected, held_out.kinds)}
    if reference_logps is not None:
        ref_chosen, ref_rejected = reference_logps
        columns["reward"] = accuracy_by_kind(chosen - ref_chosen, rejected - ref_rejected, held_out.kinds)
    columns["generate"] = generation_by_kind(held_out.generation_rows, answers)
    scores = {f"{name} {kind}": column[kind] for kind in instruct_data.KINDS for name, column in columns.items()}
    return scores, answers


def completes(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]]) -> list[bool]:
    """Whether ``model``'s greedy next token after each facts row's biography form is the value."""
    contexts, targets = [], []
    for row in rows:
        context, value = instruct_data.fact_completion(row)
        ids = tokenizer(context)["input_ids"]
        full = tokenizer(f"{context} {value}")["input_ids"]
        if full[: len(ids)] != ids or len(full) != len(ids) + 1:
            raise ValueError(f"{value!r} is not one token after {context!r}; the toy tokenizer keeps values whole")
        contexts.append(ids)
        targets.append(full[-1])
    model.eval()
    predicted = []
    for start in range(0, len(contexts), 64):
        predicted += sft.greedy_batch(model, tokenizer, contexts[start : start + 64], sft.pad_token_id(tokenizer), 1)
    return [tokens[:1] == [target] for tokens, target in zip(predicted, targets)]


def extraction_rate(known: list[bool], answered: list[bool]) -> float:
    """Share of the facts the pretrained model ``known`` (completes) that the chat model ``answered`` right."""
    if len(known) != len(answered) or not any(known):
        raise ValueError("need one answer per fact and at least one fact the pretrained model completes")
    return sum(a for k, a in zip(known, answered) if k) / sum(known)
