"""One training loop for pretraining (on fixed-length token blocks), instruction tuning and DPO.

No Trainer class. Every run has the same shape, :func:`fit`: take a batch, compute a loss,
clip the gradient norm to 1, step AdamW at the scheduled learning rate, repeat. What differs
between pretraining (:func:`train`, here), instruction tuning (``sft.train_sft``) and DPO
(``dpo.train_dpo``) is only where batches come from and which loss they give. Batch order
comes from a local seeded generator, so the global random state is left alone and, with the
same seed, thread count and machine, two runs give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def document_ids(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str]) -> list[int]:
    """Each text encoded as ``<s> ... </s>``, concatenated: the stream pretraining packs into blocks."""
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream += [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
    return stream


def token_blocks(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], block_size: int) -> torch.Tensor:
    """Encode each text as ``<s> ... </s>``, concatenate, and cut into rows of ``block_size`` tokens.

    The tail that does not fill a whole row is dropped. Returns a ``(rows, block_size)`` tensor.
    """
    if block_size < 2:
        raise ValueError(f"block_size must be at least 2 (an input and a target), got {block_size}")
    stream = document_ids(tokenizer, texts)
    rows = len(stream) // block_size
    if rows == 0:
        raise ValueError(f"the texts hold {len(stream)} tokens, fewer than one block of {block_size}")
    return torch.tensor(stream[: rows * block_size]).view(rows, block_size)


def on_device(model: torch.nn.Module, **tensors: torch.Tensor) -> dict[str, torch.Tensor]:
    """``tensors`` moved to ``model.device``: the one way every loss in solar_lab hands data to a model."""
    return {name: tensor.to(model.device) for name, tensor in tensors.items()}


def causal_lm_loss(model: PreTrainedModel, blocks: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of a batch of blocks (transformers shifts the labels by one)."""
    return model(**on_device(model, input_ids=blocks, labels=blocks)).loss


@torch.no_grad()
def evaluate_loss(model: PreTrainedModel, blocks: torch.Tensor, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on ``blocks``."""
    if blocks.ndim != 2 or len(blocks) == 0:
        raise ValueError(f"blocks must be a non-empty (rows, block_size) tensor, got shape {tuple(blocks.shape)}")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size]
        targets = batch.shape[0] * (batch.shape[1] - 1)
        total += causal_lm_loss(model, batch).item() * targets
        count += targets
    model.train(was_training)
    return total / count


Batch = TypeVar("Batch")

BETAS = (0.9, 0.95)
"""AdamW's moment decay rates, as LLaMA and nanoGPT train."""
CLIP = 1.0
"""Largest gradient norm a step may take; larger gradients are scaled down to it."""


def shuffled_batches(count: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless index batches: each epoch a fresh shuffle of ``range(count)`` by a local generator (tail dropped)."""
    if count < 1 or batch_size < 1:
        raise ValueError(f"need at least one example and a positive batch size, got {count} and {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(count, generator=generator).tolist()
        for start in range(0, max(count - batch_size, 0) + 1, batch_size):
            yield order[start : start + batch_size]


def learning_rate(step: int, steps: int, peak: float, warmup: int, schedule: str) -> float:
    """Linear warm-up to ``peak``, then constant or cosine decay to zero at ``steps``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW that decays only matrices (``ndim >= 2``: linear layers, embeddings); norms and biases get 0."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=BETAS)


def fit(
    model: torch.nn.Module,
    next_batch: Callable[[], Batch],
    loss_of_batch: Callable[[Batch], torch.Tensor],
    steps: int,
    *,
    lr: float,
    warmup: int = 0,
    schedule: str = "constant",
    weight_decay: float = 0.0,
    desc: str = "training",
    progress: bool = True,
    after_step: Callable[[int], None] | None = None,
) -> list[float]:
    """Train ``model`` in place for ``steps`` batches; returns the loss of every step.

    Each step takes ``next_batch()``, computes ``loss_of_batch(batch)`` (which places the batch
    with :func:`on_device`), clips the gradient norm to ``CLIP`` and steps :func:`adamw` at
    :func:`learning_rate`. ``after_step(done)`` runs before the first step (``done=0``) and
    after each one, e.g. to measure a held-out loss. The model is left in eval mode.
    """
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    optimizer = adamw(model, lr, weight_decay)
    losses: list[float] = []
    if after_step is not None:
        after_step(0)
    model.train()
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup, schedule)
        loss = loss_of_batch(next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        losses.append(loss.item())
        if after_step is not None:
            after_step(step + 1)
    model.eval()
    return losses


@dataclass
class TrainLog:
    """What a run measured: training loss per step, held-out loss at chosen steps."""

    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)


def train(
    model: PreTrainedModel,
    blocks: torch.Tensor,
    steps: int,
    *,
    batch_size: int = 16,
    lr: float = 1e-3,
    warmup: int = 0,
    schedule: str = "cosine",
    weight_decay: float = 0.0,
    seed: int = 0,
    eval_blocks: torch.Tensor | None = None,
    eval_every: int = 0,
    progress: bool = True,
) -> TrainLog:
    """Pretrain ``model`` in place with :func:`fit` for ``steps`` batches of ``blocks``.

    Batches walk through shuffled epochs of ``blocks`` (``seed`` fixes the order). With
    ``eval_blocks`` and ``eval_every``, the held-out loss is measured before the first step
    and every ``eval_every`` steps, including after the last.
    """
    if batch_size < 1 or batch_size > len(blocks):
        raise ValueError(f"need 1 <= batch_size <= {len(blocks)} blocks, got batch_size={batch_size}")
    batches = shuffled_batches(len(blocks), batch_size, seed)
    log = TrainLog()

    def measure(step: int) -> None:
        if eval_blocks is not None and eval_every > 0 and (step % eval_every == 0 or step == steps):
            log.eval_steps.append(step)
            log.eval_loss.append(evaluate_loss(model, eval_blocks))

    log.train_loss = fit(
        model, lambda: blocks[next(batches)], lambda batch: causal_lm_loss(model, batch), steps,
        lr=lr, warmup=warmup, schedule=schedule, weight_decay=weight_decay, progress=progress, after_step=measure,
    )
    return log
