"""A plain training loop for causal language modelling on fixed-length token blocks.

No Trainer class: sample a batch, compute the loss the model returns for ``labels=input``
(transformers shifts the labels by one inside), step AdamW, repeat. With the same seed,
thread count and machine, two runs give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def token_blocks(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], block_size: int) -> torch.Tensor:
    """Encode each text as ``<s> ... </s>``, concatenate, and cut into rows of ``block_size`` tokens.

    The tail that does not fill a whole row is dropped. Returns a ``(rows, block_size)`` tensor.
    """
    if block_size < 2:
        raise ValueError(f"block_size must be at least 2 (an input and a target), got {block_size}")
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream += [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
    rows = len(stream) // block_size
    if rows == 0:
        raise ValueError(f"the texts hold {len(stream)} tokens, fewer than one block of {block_size}")
    return torch.tensor(stream[: rows * block_size]).view(rows, block_size)


@torch.no_grad()
def evaluate_loss(model: PreTrainedModel, blocks: torch.Tensor, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on ``blocks``."""
    if blocks.ndim != 2 or len(blocks) == 0:
        raise ValueError(f"blocks must be a non-empty (rows, block_size) tensor, got shape {tuple(blocks.shape)}")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size].to(model.device)
        targets = batch.shape[0] * (batch.shape[1] - 1)
        total += model(input_ids=batch, labels=batch).loss.item() * targets
        count += targets
    model.train(was_training)
    return total / count


def learning_rate(step: int, steps: int, peak: float, warmup: int, schedule: str) -> float:
    """Linear warm-up to ``peak``, then constant or cosine decay to zero at ``steps``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


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
    """Train ``model`` in place with AdamW for ``steps`` batches drawn from ``blocks``.

    Batches walk through shuffled epochs of ``blocks`` (a seeded generator fixes the order).
    With ``eval_blocks`` and ``eval_every``, the held-out loss is measured before the first
    step and every ``eval_every`` steps, including after the last.
    """
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if steps < 0 or batch_size < 1 or batch_size > len(blocks):
        raise ValueError(
            f"need steps >= 0 and 1 <= batch_size <= {len(blocks)} blocks; got steps={steps}, batch_size={batch_size}"
        )
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    log = TrainLog()
    order = torch.randperm(len(blocks), generator=generator)
    position = 0

    def measure(step: int) -> None:
        if eval_blocks is not None and eval_every > 0 and (step % eval_every == 0 or step == steps):
            log.eval_steps.append(step)
            log.eval_loss.append(evaluate_loss(model, eval_blocks))

    model.train()
    measure(0)
    for step in tqdm(range(steps), desc="training", disable=not progress, leave=False):
        if position + batch_size > len(order):
            order, position = torch.randperm(len(blocks), generator=generator), 0
        batch = blocks[order[position : position + batch_size]].to(model.device)
        position += batch_size
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup, schedule)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        log.train_loss.append(loss.item())
        measure(step + 1)
    model.eval()
    return log
