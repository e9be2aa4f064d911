"""Decoder shapes from published configs, and where their parameters live."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # torch and transformers load only when a function needs them
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

PUBLISHED_CONFIGS = {
    "llama-2-7b": "Llama-2-7B",
    "mistral-7b-v0.1": "Mistral-7B-v0.1",
    "solar-10.7b-v1.0": "SOLAR-10.7B-v1.0",
    "mixtral-8x7b-v0.1": "Mixtral-8x7B-v0.1",
}
"""Configs shipped with the package (file stem -> display name)."""

LLAMA_FAMILY = ("llama", "mistral", "mixtral")
REQUIRED_FIELDS = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
)
COMPONENTS = ("embeddings", "attention", "mlp", "norms", "lm_head")


def _as_dict(config: "Mapping[str, Any] | PretrainedConfig") -> dict[str, Any]:
    return dict(config) if isinstance(config, Mapping) else config.to_dict()


def load_config_dict(name: str) -> dict[str, Any]:
    """A shipped published config as a plain dict (``name`` is a key of PUBLISHED_CONFIGS)."""
    if name not in PUBLISHED_CONFIGS:
        raise ValueError(f"unknown config {name!r}; shipped configs are {sorted(PUBLISHED_CONFIGS)}")
    text = resources.files("solar_lab.configs").joinpath(f"{name}.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def load_config(name: str) -> "PretrainedConfig":
    """A shipped published config as a transformers config object."""
    from transformers import AutoConfig

    values = load_config_dict(name)
    return AutoConfig.for_model(values.pop("model_type"), **values)


@dataclass(frozen=True)
class DecoderShape:
    """The numbers that fix a Llama-family decoder's parameter count."""

    model_type: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool = False
    num_local_experts: int = 1
    num_experts_per_tok: int = 1

    @classmethod
    def from_config(cls, config: "Mapping[str, Any] | PretrainedConfig") -> "DecoderShape":
        """Read a shape from a config, with a clear error for missing fields or other families."""
        values = _as_dict(config)
        missing = [field for field in REQUIRED_FIELDS if values.get(field) is None]
        if missing:
            raise ValueError(
                f"config is missing {', '.join(missing)}; a Llama-family config needs "
                f"{', '.join(REQUIRED_FIELDS)} (num_key_value_heads defaults to num_attention_heads)"
            )
        if values["model_type"] not in LLAMA_FAMILY:
            raise ValueError(
                f"model_type {values['model_type']!r} is not a Llama-family decoder; "
                f"supported: {', '.join(LLAMA_FAMILY)}"
            )
        heads = values["num_attention_heads"]
        kv_heads = values.get("num_key_value_heads") or heads
        if values["hidden_size"] % heads or heads % kv_heads:
            raise ValueError(
                f"hidden_size {values['hidden_size']} must divide by num_attention_heads {heads}, "
                f"and num_attention_heads by num_key_value_heads {kv_heads}"
            )
        return cls(
            model_type=values["model_type"],
            hidden_size=values["hidden_size"],
            intermediate_size=values["intermediate_size"],
            num_hidden_layers=values["num_hidden_layers"],
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            vocab_size=values["vocab_size"],
            tie_word_embeddings=bool(values.get("tie_word_embeddings", False)),
            num_local_experts=values.get("num_local_experts") or 1,
            num_experts_per_tok=values.get("num_experts_per_tok") or 1,
        )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def attention_per_layer(self) -> int:
        """q and o are hidden x hidden; k and v shrink with grouped-query attention."""
        kv_width = self.num_key_value_heads * self.head_dim
        return 2 * self.hidden_size * self.hidden_size + 2 * self.hidden_size * kv_width

    def expert_mlp(self) -> int:
        """One SwiGLU MLP: gate, up and down projections."""
        return 3 * self.hidden_size * self.intermediate_size

    def router_per_layer(self) -> int:
        return self.hidden_size * self.num_local_experts if self.num_local_experts > 1 else 0

    def mlp_per_layer(self, active_only: bool = False) -> int:
        experts = self.num_experts_per_tok if active_only else self.num_local_experts
        return experts * self.expert_mlp() + self.router_per_layer()

    def parameters_by_component(self, active_only: bool = False) -> dict[str, int]:
        """Parameter counts per component; ``active_only`` counts routed experts used per token."""
        embeddings = self.vocab_size * self.hidden_size
        return {
            "embeddings": embeddings,
            "attention": self.num_hidden_layers * self.attention_per_layer(),
            "mlp": self.num_hidden_layers * self.mlp_per_layer(active_only),
            "norms": (2 * self.num_hidden_layers + 1) * self.hidden_size,
            "lm_head": 0 if self.tie_word_embeddings else embeddings,
        }

    def total_parameters(self, active_only: bool = False) -> int:
        return sum(self.parameters_by_component(active_only).values())


def meta_model(config: "PretrainedConfig") -> "PreTrainedModel":
    """The model a config describes, on the meta device: real shapes, no memory, no weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def component_of(parameter_name: str) -> str:
    """Which of COMPONENTS a Hugging Face Llama-family parameter name belongs to."""
    if "embed_tokens" in parameter_name:
        return "embeddings"
    if parameter_name.startswith("lm_head"):
        return "lm_head"
    if "norm" in parameter_name:
        return "norms"
    if "self_attn" in parameter_name:
        return "attention"
    if ".mlp." in parameter_name or "block_sparse_moe" in parameter_name:
        return "mlp"
    raise ValueError(f"parameter {parameter_name!r} belongs to no known component")


def count_by_component(model: "torch.nn.Module") -> dict[str, int]:
    """Count a model's parameters per component (shared tensors counted once)."""
    counts = dict.fromkeys(COMPONENTS, 0)
    for name, parameter in model.named_parameters():
        counts[component_of(name)] += parameter.numel()
    return counts
