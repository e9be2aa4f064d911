"""What a model knows: loss and accuracy on the tokens the world determines, and bits stored.

Most tokens of a biography are noise (which template, which order, name or pronoun), so the
loss over whole lines says little about knowledge. A *probe* is a set of freshly drawn
held-out documents whose determined spans are known: the attribute values of biographies and
the answers of skill lines. ``measure`` scores a model on exactly those tokens: mean
cross-entropy and top-1 accuracy, overall and by label.

Bits stored (Allen-Zhu & Li, *Physics of Language Models, Part 3.3*): a model that knows
nothing of a person's city, only the list of cities, pays log2 |cities| bits for it; what it
pays less than that is what it stores. Summed over people and attributes,
``people × Σ max(0, log2 |values| − loss in bits)`` estimates the bits held in the weights.
Per parameter, it is divided by the parameters outside the embeddings and the LM head
(``inner_parameters``): the layers, where a fact about a person (two name tokens) must live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice

import torch
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from solar_lab.architecture import DecoderShape
from solar_lab.corpus import documents
from solar_lab.world import World


def inner_parameters(config: PretrainedConfig) -> int:
    """Parameters of a decoder outside its embeddings and LM head."""
    parts = DecoderShape.from_config(config).parameters_by_component()
    return sum(count for part, count in parts.items() if part not in ("embeddings", "lm_head"))


@dataclass(frozen=True)
class Probe:
    """Token ids of held-out documents (rows padded with ``</s>``) and where each determined token sits."""

    ids: torch.Tensor
    rows: torch.Tensor
    positions: torch.Tensor
    labels: tuple[str, ...]
    """One label per determined token: the attribute of a value or the kind of a skill answer."""


def make_probe(world: World, tokenizer: PreTrainedTokenizerBase, count: int, seed: int) -> Probe:
    """``count`` held-out documents from ``seed`` with every token of their determined spans located.

    A value must be one token: a tokenizer that splits one is refused with a one-line error.
    """
    if count < 1:
        raise ValueError(f"count must be positive, got {count}")
    lines = list(islice(documents(world, seed, "held_out"), count))
    encoded = tokenizer([text for text, _ in lines], return_offsets_mapping=True)
    rows, positions, labels = [], [], []
    for row, ((text, spans), offsets) in enumerate(zip(lines, encoded["offset_mapping"])):
        for span in spans:
            inside = [index for index, (start, end) in enumerate(offsets)
                      if end > start and start < span.end and end > span.start]
            if span.label in world.vocabulary.values and len(inside) != 1:
                pieces = tokenizer.convert_ids_to_tokens([encoded["input_ids"][row][i] for i in inside])
                raise ValueError(f"the tokenizer splits the value {text[span.start:span.end]!r} into {pieces}; "
                                 f"train it with a larger vocabulary")
            rows += [row] * len(inside)
            positions += inside
            labels += [span.label] * len(inside)
    width = max(len(ids) for ids in encoded["input_ids"])
    ids = torch.full((count, width), tokenizer.eos_token_id)
    for row, row_ids in enumerate(encoded["input_ids"]):
        ids[row, : len(row_ids)] = torch.tensor(row_ids)
    return Probe(ids, torch.tensor(rows), torch.tensor(positions), tuple(labels))


@dataclass(frozen=True)
class Knowledge:
    """A model's loss (nats per token) and top-1 accuracy on a probe's determined tokens, overall and by label."""

    loss: float
    accuracy: float
    by_label: dict[str, tuple[float, float]]

    def facts_loss(self, world: World) -> float:
        """Mean loss over the attribute-value tokens only."""
        return sum(self.by_label[a][0] for a in world.vocabulary.values) / len(world.vocabulary.values)

    def facts_accuracy(self, world: World) -> float:
        """Mean top-1 accuracy over the attribute-value tokens only (each attribute weighted equally)."""
        return sum(self.by_label[a][1] for a in world.vocabulary.values) / len(world.vocabulary.values)

    def bits(self, world: World) -> float:
        """Estimated bits of the world's facts stored: people × Σ max(0, log2 |values| − loss / ln 2)."""
        return len(world.people) * sum(
            max(0.0, math.log2(len(values)) - self.by_label[attribute][0] / math.log(2))
            for attribute, values in world.vocabulary.values.items()
        )


@torch.no_grad()
def measure(model: PreTrainedModel, probe: Probe, batch_size: int = 64) -> Knowledge:
    """Score ``model`` on the probe's determined tokens (each predicted from the tokens before it)."""
    was_training = model.training
    model.eval()
    losses, hits = torch.empty(len(probe.labels)), torch.empty(len(probe.labels))
    for start in range(0, len(probe.ids), batch_size):
        logits = model(input_ids=probe.ids[start : start + batch_size].to(model.device)).logits.float().cpu()
        chosen = (probe.rows >= start) & (probe.rows < start + batch_size)
        rows, positions = probe.rows[chosen] - start, probe.positions[chosen]
        predicted = logits[rows, positions - 1]
        targets = probe.ids[rows + start, positions]
        losses[chosen] = torch.nn.functional.cross_entropy(predicted, targets, reduction="none")
        hits[chosen] = (predicted.argmax(-1) == targets).float()
    model.train(was_training)
    by_label = {}
    for label in dict.fromkeys(probe.labels):
        mask = torch.tensor([l == label for l in probe.labels])
        by_label[label] = (losses[mask].mean().item(), hits[mask].mean().item())
    return Knowledge(losses.mean().item(), hits.mean().item(), by_label)
