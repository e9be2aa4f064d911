"""Direct preference optimisation (DPO): the loss by hand, a training loop, and preference metrics.

DPO needs no reward model: the policy's log-probability ratio to a frozen reference acts as
an implicit reward, and the loss asks that reward to rank the chosen answer above the
rejected one. β sets how far the policy may drift from the reference.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from solar_lab.sft import IGNORE, collate, encode
from solar_lab.training import fit, on_device, shuffled_batches


def check_beta(beta: float) -> float:
    """β as a float, or ValueError unless it is positive."""
    if not beta > 0:
        raise ValueError(f"beta must be positive (DPO's temperature, e.g. 0.1), got {beta}")
    return float(beta)


def sequence_logps(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Log-probability of each row's labelled (response) tokens, summed per row.

    The inputs move to ``model.device``; the labels follow the logits.
    """
    logits = model(**on_device(model, input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])).logits
    labels = batch["labels"][:, 1:].to(logits.device)
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    mask = labels != IGNORE
    token_logps = torch.gather(logps, 2, labels.clamp(min=0).unsqueeze(2)).squeeze(2)
    return (token_logps * mask).sum(dim=1)


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair sigmoid DPO loss ``-log σ(β·((πc−rc) − (πr−rr)))`` and the detached rewards β·(π−r)."""
    beta = check_beta(beta)
    chosen_logratios = policy_chosen_logps - reference_chosen_logps
    rejected_logratios = policy_rejected_logps - reference_rejected_logps
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]], max_length: int
) -> list[tuple[dict[str, list[int]], dict[str, list[int]]]]:
    """(chosen, rejected) encodings of every preference row; an error names the row."""
    return [
        (
            encode(tokenizer, row["prompt"], row["chosen"], max_length, where=f"row {index} (chosen)"),
            encode(tokenizer, row["prompt"], row["rejected"], max_length, where=f"row {index} (rejected)"),
        )
        for index, row in enumerate(rows)
    ]


def pair_batch(pairs: list[tuple[dict, dict]], pad_id: int) -> dict[str, torch.Tensor]:
    """One padded batch: all chosen sequences first, then all rejected ones (as TRL does)."""
    return collate([chosen for chosen, _ in pairs] + [rejected for _, rejected in pairs], pad_id)


def pair_logps(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probs of a pair batch, split into (chosen, rejected)."""
    return sequence_logps(model, batch).chunk(2)


def train_dpo(
    policy: PreTrainedModel,
    reference: PreTrainedModel,
    pairs: list[tuple[dict, dict]],
    pad_id: int,
    steps: int,
    beta: float = 0.1,
    batch_size: int = 16,
    lr: float = 5e-4,
    seed: int = 0,
    progress: bool = True,
    sft_weight: float = 0.0,
) -> list[dict[str, float]]:
    """Train ``policy`` in place against the frozen ``reference``; one log dict per step.

    ``sft_weight`` > 0 adds that much of the chosen answers' mean token cross-entropy to the
    loss (TRL's ``rpo_alpha``): DPO alone may push the chosen answer's probability down as
    long as the rejected one falls faster, and on a small model that spoils greedy answers.
    Runs ``training.fit`` (``seed`` fixes the batch order, constant learning rate); policy and
    reference must share one device.
    """
    beta = check_beta(beta)
    if reference.device != policy.device:
        raise ValueError(f"policy is on {policy.device} but reference on {reference.device}; move both to one device")
    reference.eval()
    batches = shuffled_batches(len(pairs), batch_size, seed)
    log: list[dict[str, float]] = []

    def loss_of_batch(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            reference_chosen, reference_rejected = pair_logps(reference, batch)
        policy_chosen, policy_rejected = pair_logps(policy, batch)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta
        )
        log.append(step_metrics(len(log), losses, chosen_rewards, rejected_rewards))
        if not sft_weight:
            return losses.mean()
        chosen_tokens = int((batch["labels"][: len(policy_chosen), 1:] != IGNORE).sum())
        return losses.mean() - sft_weight * policy_chosen.sum() / chosen_tokens

    fit(policy, lambda: pair_batch([pairs[i] for i in next(batches)], pad_id), loss_of_batch, steps,
        lr=lr, desc=f"DPO β={beta:g}", progress=progress)
    return log


def step_metrics(
    step: int, losses: torch.Tensor, chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor
) -> dict[str, float]:
    """The numbers TRL logs for a DPO step: loss, mean rewards, margin and reward accuracy."""
    return {
        "step": step,
        "loss": losses.mean().item(),
        "rewards/chosen": chosen_rewards.mean().item(),
        "rewards/rejected": rejected_rewards.mean().item(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean().item(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean().item(),
    }


@torch.no_grad()
def all_pair_logps(
    model: PreTrainedModel, pairs: list[tuple[dict, dict]], pad_id: int, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probs of every pair under ``model``: (chosen, rejected), on the CPU."""
    model.eval()
    chosen, rejected = [], []
    for start in range(0, len(pairs), batch_size):
        c, r = pair_logps(model, pair_batch(pairs[start : start + batch_size], pad_id))
        chosen.append(c)
        rejected.append(r)
    return torch.cat(chosen).cpu(), torch.cat(rejected).cpu()


def preference_accuracy(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> float:
    """Fraction of pairs whose chosen answer scores strictly higher than the rejected one."""
    if chosen_scores.shape != rejected_scores.shape or chosen_scores.numel() == 0:
        raise ValueError(
            f"need two equally long, non-empty score vectors, got {tuple(chosen_scores.shape)} "
            f"and {tuple(rejected_scores.shape)}"
        )
    return (chosen_scores > rejected_scores).float().mean().item()
