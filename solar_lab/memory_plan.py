"""How much memory continued pretraining with FSDP takes per GPU, and the fewest GPUs it fits on.

FSDP (fully sharded data parallelism, ZeRO stage 3) splits every tensor that lives for the
whole run evenly over the N processes: the fp32 weights (4 bytes a parameter), their fp32
gradients (4) and AdamW's two fp32 moments (8). That is 16 bytes a parameter, divided by N.
Three things are not divided:

- **activations**: what each GPU's own micro-batch keeps for the backward pass;
- **working copies**: FSDP gathers one layer's full weights in the compute dtype for its
  forward and backward (and the next layer's ahead of time), holds its full gradients until
  they are reduce-scattered, and keeps the root (embeddings, final norm, LM head) gathered
  for the whole step;
- **the logits** at the loss: one value per vocabulary entry and token, in the compute dtype,
  plus fp32 copies for the cross-entropy and its gradient.

The activation counts are not guessed: transformers' Llama decoder layer (SDPA attention)
keeps, per token, ``(6c + 8)·h + 4c·f + 2c·kv + 4·heads + 8`` bytes (``c``: bytes of the
compute dtype; the RMSNorms keep fp32 copies whatever it is), and the rest of the model
``4·V + (2c + 4)·h + 2c·head_dim + 20``. tests/test_memory_plan.py measures the same sums
with autograd's saved-tensor hooks on a real forward pass. With activation checkpointing a
layer keeps only its input (``c·h``) and recomputes the rest in the backward pass, one
layer at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from solar_lab.architecture import DecoderShape

if TYPE_CHECKING:  # plotly loads only when a figure is drawn
    import plotly.graph_objects as go

GIB = 2**30
MASTER_BYTES = 4
"""fp32 weights, fp32 gradients and each of AdamW's two fp32 moments: 4 bytes a parameter each."""
USABLE_SHARE = 0.9
"""Share of a GPU's memory a plan may fill: the rest is for the CUDA context, NCCL's buffers
and the allocator's fragmentation."""
H100_BF16_FLOPS = 989e12
"""An H100 SXM's dense bf16 peak (NVIDIA's data sheet)."""


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes one GPU holds at the peak of a training step, by what they are."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    working: int

    @property
    def total(self) -> int:
        return sum(getattr(self, field.name) for field in fields(self))

    def as_gib(self) -> dict[str, float]:
        """Each part and the total in GiB."""
        parts = {field.name: getattr(self, field.name) / GIB for field in fields(self)}
        return {**parts, "total": self.total / GIB}


def layer_parameters(shape: DecoderShape) -> int:
    """Parameters of one decoder layer: attention, MLP and its two RMSNorms."""
    return shape.attention_per_layer() + shape.mlp_per_layer() + 2 * shape.hidden_size


def root_parameters(shape: DecoderShape) -> int:
    """Parameters outside the layers: embeddings, final norm and LM head."""
    return shape.total_parameters() - shape.num_hidden_layers * layer_parameters(shape)


def layer_activation_bytes(shape: DecoderShape, compute_bytes: int) -> int:
    """Bytes one decoder layer keeps for the backward pass, per token."""
    c, h = compute_bytes, shape.hidden_size
    kv_width = shape.num_key_value_heads * shape.head_dim
    return (6 * c + 8) * h + 4 * c * shape.intermediate_size + 2 * c * kv_width + 4 * shape.num_attention_heads + 8


def other_activation_bytes(shape: DecoderShape, compute_bytes: int) -> int:
    """Bytes the rest of the model keeps per token: embedding output, rotary tables, final norm, log-softmax."""
    c = compute_bytes
    return 4 * shape.vocab_size + (2 * c + 4) * shape.hidden_size + 2 * c * shape.head_dim + 20


def activation_bytes(shape: DecoderShape, tokens: int, compute_bytes: int, checkpointing: bool) -> int:
    """Bytes of activations kept at the start of the backward pass, for ``tokens`` tokens per GPU.

    With checkpointing, each layer keeps its input, and the layer being recomputed keeps
    everything, one at a time.
    """
    layer = layer_activation_bytes(shape, compute_bytes)
    inputs = compute_bytes * shape.hidden_size
    kept = (inputs * shape.num_hidden_layers + layer) if checkpointing else layer * shape.num_hidden_layers
    return tokens * (kept + other_activation_bytes(shape, compute_bytes))


def working_bytes(shape: DecoderShape, tokens: int, compute_bytes: int) -> int:
    """FSDP's gathered copies (root and two layers), one unit's full gradients, and the logits."""
    layer, root = layer_parameters(shape), root_parameters(shape)
    gathered = compute_bytes * (root + 2 * layer)
    gradient_bytes = compute_bytes + (MASTER_BYTES if compute_bytes < MASTER_BYTES else 0)
    logits = tokens * (compute_bytes + 2 * MASTER_BYTES) * shape.vocab_size
    return gathered + gradient_bytes * max(layer, root) + logits


def plan_memory(
    shape: DecoderShape,
    gpus: int,
    *,
    seq_len: int,
    micro_batch: int = 1,
    compute_bytes: int = 2,
    checkpointing: bool = True,
) -> MemoryPlan:
    """The memory one of ``gpus`` GPUs needs, each with ``micro_batch`` sequences of ``seq_len`` tokens.

    ``compute_bytes`` is 2 for bf16 mixed precision, 4 for fp32 throughout.
    """
    if gpus < 1 or seq_len < 1 or micro_batch < 1 or compute_bytes not in (2, 4):
        raise ValueError(
            f"need gpus, seq_len and micro_batch >= 1 and compute_bytes 2 or 4, "
            f"got {gpus}, {seq_len}, {micro_batch}, {compute_bytes}"
        )
    share = MASTER_BYTES * shape.total_parameters() // gpus
    tokens = seq_len * micro_batch
    return MemoryPlan(
        parameters=share,
        gradients=share,
        optimizer=2 * share,
        activations=activation_bytes(shape, tokens, compute_bytes, checkpointing),
        working=working_bytes(shape, tokens, compute_bytes),
    )


def usable_bytes(gpu_gib: float) -> int:
    """What a plan may fill on a GPU of ``gpu_gib`` GiB (``USABLE_SHARE`` of it)."""
    return int(USABLE_SHARE * gpu_gib * GIB)


def fewest_gpus(shape: DecoderShape, gpu_gib: float, most: int = 4096, **recipe) -> int | None:
    """The fewest GPUs of ``gpu_gib`` GiB whose plan fits (None: not even ``most``, since
    activations and working copies do not shrink with more GPUs). ``recipe``: ``plan_memory``'s keywords."""
    usable = usable_bytes(gpu_gib)
    return next((n for n in range(1, most + 1) if plan_memory(shape, n, **recipe).total <= usable), None)


def flops_per_token(shape: DecoderShape, seq_len: int) -> int:
    """Training FLOPs per token (PaLM's count): 6 per weight it multiplies, plus attention's 12·layers·h·seq_len.

    The embedding table is a lookup, not a multiplication; activation checkpointing's extra
    forward pass is not counted (it shows up as lower utilisation instead).
    """
    weights = shape.total_parameters() - shape.vocab_size * shape.hidden_size
    return 6 * weights + 12 * shape.num_hidden_layers * shape.hidden_size * seq_len


def gpu_hours(
    shape: DecoderShape, tokens: float, seq_len: int, *, peak_flops: float = H100_BF16_FLOPS, mfu: float = 0.4
) -> float:
    """GPU-hours to train on ``tokens`` tokens at model FLOPs utilisation ``mfu`` of ``peak_flops``.

    The hours do not depend on the GPU count (more GPUs, fewer hours each); 0.4 is a typical
    utilisation for FSDP training of a model this size, an assumption rather than a measurement.
    """
    return tokens * flops_per_token(shape, seq_len) / (mfu * peak_flops) / 3600


def plan_table(shape: DecoderShape, gpu_gib: float, gpu_counts: Iterable[int], **recipe) -> str:
    """The plan for each GPU count as a Markdown table, in GiB, with and without activation checkpointing."""
    recipe.pop("checkpointing", None)
    usable = usable_bytes(gpu_gib) / GIB
    lines = [
        "| GPUs | parameters | gradients | optimizer | activations | working | total | total without checkpointing |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in gpu_counts:
        plan = plan_memory(shape, n, checkpointing=True, **recipe).as_gib()
        bare = plan_memory(shape, n, checkpointing=False, **recipe).as_gib()["total"]
        cells = [f"{value:.1f}" for value in plan.values()]
        cells[-1] += "" if plan["total"] <= usable else " ✗"
        lines.append(f"| {n} | {' | '.join(cells)} | {bare:.1f}{'' if bare <= usable else ' ✗'} |")
    return "\n".join(lines)


def memory_plan_figure(
    shape: DecoderShape, gpu_gib: float = 80, gpu_counts: Iterable[int] = range(1, 17), *, title: str = "", **recipe
) -> "go.Figure":
    """Stacked bars of the plan per GPU count (with activation checkpointing), the total without it,
    and the GPU's size; ``recipe``: ``plan_memory``'s keywords."""
    import plotly.graph_objects as go

    recipe.pop("checkpointing", None)
    counts = list(gpu_counts)
    plans = [plan_memory(shape, n, checkpointing=True, **recipe).as_gib() for n in counts]
    bare = [plan_memory(shape, n, checkpointing=False, **recipe).as_gib()["total"] for n in counts]
    fit, fit_bare = (
        fewest_gpus(shape, gpu_gib, checkpointing=flag, **recipe) or "no number of" for flag in (True, False)
    )
    figure = go.Figure()
    for part in (field.name for field in fields(MemoryPlan)):
        figure.add_bar(x=counts, y=[plan[part] for plan in plans], name=part)
    figure.add_scatter(x=counts, y=bare, mode="lines+markers", name="total without activation checkpointing")
    figure.add_hline(y=gpu_gib, line_dash="dot", annotation_text=f"{gpu_gib:g} GiB GPU")
    figure.add_hline(y=usable_bytes(gpu_gib) / GIB, line_dash="dash",
                     annotation_text=f"usable ({USABLE_SHARE:.0%})", annotation_position="bottom right")
    figure.update_layout(
        barmode="stack", height=440,
        title=f"{title or 'FSDP'}: memory per GPU<br><sup>fits on {fit} GPUs with activation checkpointing, "
              f"{fit_bare} without</sup>",
        xaxis=dict(title="GPUs (FSDP processes)", tickvals=counts),
        yaxis_title="GiB per GPU",
    )
    return figure
