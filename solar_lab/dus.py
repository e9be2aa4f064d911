"""Depth up-scaling (DUS): stack two trimmed copies of one decoder into a deeper one.

With n layers and m dropped, the original keeps layers ``[0, n-m)`` and the copy keeps
``[m, n)``; stacked, they give ``2·(n-m)`` layers. SOLAR 10.7B used n = 32, m = 8 -> 48.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from solar_lab.architecture import DecoderShape

if TYPE_CHECKING:  # torch and transformers load only when a model is up-scaled in memory
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

LAYER_NAME = re.compile(r"^(?P<head>(?:.*\.)?layers\.)(?P<index>\d+)(?P<tail>\..+)$")

ConfigLike = TypeVar("ConfigLike", dict, "PretrainedConfig")


@dataclass(frozen=True)
class DusPlan:
    """Which layer of which copy lands where when an n-layer model is up-scaled with m."""

    n_layers: int
    m: int

    def __post_init__(self) -> None:
        n, m = self.n_layers, self.m
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise ValueError(f"the base model needs at least 2 layers, got n_layers={n!r}")
        if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m < n / 2:
            raise ValueError(
                f"m={m!r} is out of range for a model with {n} layers: m must be an integer with "
                f"0 <= m < n/2 = {n / 2:g}, so that the result (2·(n-m) layers) is deeper "
                f"than the base (m=0 is the naive repeat; the paper used m=8 for n=32)"
            )

    @property
    def depth(self) -> int:
        """Layers of the up-scaled model."""
        return 2 * (self.n_layers - self.m)

    @property
    def kept_from_original(self) -> range:
        """The original's layers that survive: all but its last m."""
        return range(0, self.n_layers - self.m)

    @property
    def kept_from_copy(self) -> range:
        """The copy's layers that survive: all but its first m."""
        return range(self.m, self.n_layers)

    @property
    def source_layers(self) -> list[int]:
        """For each new layer (0-based), the base layer whose weights it starts from."""
        return [*self.kept_from_original, *self.kept_from_copy]

    @property
    def seam(self) -> tuple[int, int]:
        """The two new layers (0-based) where the original's stack meets the copy's."""
        return self.n_layers - self.m - 1, self.n_layers - self.m

    def destinations(self, source: int) -> list[int]:
        """New layers (0-based) that start from base layer ``source``: none, one or two."""
        return [new for new, old in enumerate(self.source_layers) if old == source]

    def mergekit_slices(self) -> list[tuple[int, int]]:
        """The two half-open ``layer_range`` slices of mergekit's passthrough merge."""
        first, second = self.kept_from_original, self.kept_from_copy
        return [(first.start, first.stop), (second.start, second.stop)]


def plan_for(config: "Mapping[str, Any] | PretrainedConfig", m: int) -> DusPlan:
    """The DUS plan for a Llama-family config (checked) and m."""
    return DusPlan(DecoderShape.from_config(config).num_hidden_layers, m)


def upscaled_config(config: ConfigLike, m: int) -> ConfigLike:
    """A copy of ``config`` with the depth (and per-layer lists) of the up-scaled model."""
    plan = plan_for(config, m)
    new = copy.deepcopy(config)
    layer_types = new.get("layer_types") if isinstance(new, dict) else getattr(new, "layer_types", None)
    values = {"num_hidden_layers": plan.depth}
    if layer_types is not None:
        values["layer_types"] = [layer_types[source] for source in plan.source_layers]
    for key, value in values.items():
        if isinstance(new, dict):
            new[key] = value
        else:
            setattr(new, key, value)
    return new


def upscaled_names(name: str, plan: DusPlan) -> list[str]:
    """The names a checkpoint tensor takes in the up-scaled model.

    Layer tensors (``model.layers.7.mlp.up_proj.weight``) are renumbered and may appear
    twice or not at all; every other tensor (embeddings, final norm, LM head) keeps its name.
    """
    match = LAYER_NAME.match(name)
    if match is None:
        return [name]
    source = int(match["index"])
    if source >= plan.n_layers:
        raise ValueError(f"tensor {name!r} names layer {source}, but the model has {plan.n_layers} layers")
    return [f"{match['head']}{new}{match['tail']}" for new in plan.destinations(source)]


def upscaled_state_dict(state_dict: "Mapping[str, torch.Tensor]", plan: DusPlan) -> "dict[str, torch.Tensor]":
    """The up-scaled model's state dict: every tensor is its source tensor, renamed (not copied)."""
    return {new: tensor for name, tensor in state_dict.items() for new in upscaled_names(name, plan)}


def depth_upscale(model: "PreTrainedModel", m: int) -> "PreTrainedModel":
    """Up-scale a Hugging Face Llama-family model in memory: a new, independent model.

    The new model is built from the up-scaled config, so each attention layer carries its
    own position (``layer_idx``) and the KV cache works; then each tensor is copied from
    its planned source.
    """
    if not hasattr(model, "config") or not hasattr(getattr(model, "model", None), "layers"):
        raise ValueError(
            f"{type(model).__name__} is not a Hugging Face decoder with model.layers; "
            "depth_upscale takes a Llama-family *ForCausalLM model"
        )
    plan = plan_for(model.config, m)
    new_config = upscaled_config(model.config, m)
    new_model = type(model)._from_config(new_config, dtype=model.dtype).to(model.device)
    new_model.load_state_dict(upscaled_state_dict(model.state_dict(), plan), strict=True)
    new_model.generation_config = copy.deepcopy(model.generation_config)
    return new_model.train(model.training)


def mergekit_yaml(model_path: str, plan: DusPlan, dtype: str = "bfloat16") -> str:
    """The mergekit passthrough config that performs the same DUS on ``model_path``."""
    slices = "".join(
        f"  - sources:\n      - model: {model_path}\n        layer_range: [{start}, {stop}]\n"
        for start, stop in plan.mergekit_slices()
    )
    return f"slices:\n{slices}merge_method: passthrough\ndtype: {dtype}\n"
