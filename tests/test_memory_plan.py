"""The memory plan: its parameter bytes come from the real parameter count, its activations from a real forward pass."""

from __future__ import annotations

import pytest
import torch
from torch.distributed._composable import checkpoint
from transformers import LlamaConfig, LlamaForCausalLM

from solar_lab.architecture import DecoderShape, load_config, load_config_dict, meta_model
from solar_lab.cli import main
from solar_lab.memory_plan import (
    GIB,
    activation_bytes,
    fewest_gpus,
    layer_parameters,
    memory_plan_figure,
    plan_memory,
    usable_bytes,
)

SOLAR = DecoderShape.from_config(load_config_dict("solar-10.7b-v1.0"))
SOLAR_PARAMETERS = 10_731_524_096


def test_sharded_state_is_16_bytes_a_parameter_split_over_the_gpus():
    assert SOLAR.total_parameters() == SOLAR_PARAMETERS
    for gpus in (1, 3, 8):
        plan = plan_memory(SOLAR, gpus, seq_len=4096)
        assert plan.parameters + plan.gradients + plan.optimizer == pytest.approx(16 * SOLAR_PARAMETERS / gpus, abs=4)


def test_a_layer_holds_what_transformers_puts_in_one():
    model = meta_model(load_config("solar-10.7b-v1.0"))
    assert layer_parameters(SOLAR) == sum(p.numel() for p in model.model.layers[0].parameters()) == 218_112_000


def saved_bytes(config: LlamaConfig, tokens: int, dtype: torch.dtype, checkpointing: bool) -> int:
    """Bytes of the tensors a forward pass keeps for the backward pass (each storage once, weights left out)."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(dtype)
    if checkpointing:
        for layer in model.model.layers:
            checkpoint(layer)
    weights = {param.untyped_storage().data_ptr() for param in model.parameters()}
    kept: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    ids = torch.randint(0, config.vocab_size, (1, tokens))
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        model(input_ids=ids, labels=ids)
    return sum(kept.values())


def small_config(layers: int) -> LlamaConfig:
    return LlamaConfig(vocab_size=123, hidden_size=96, intermediate_size=160, num_hidden_layers=layers,
                       num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=256, use_cache=False)


@pytest.mark.parametrize(("dtype", "compute_bytes"), [(torch.float32, 4), (torch.bfloat16, 2)])
def test_activations_are_what_a_forward_pass_keeps(dtype, compute_bytes):
    config, tokens = small_config(layers=3), 48
    shape = DecoderShape.from_config(config)
    measured = saved_bytes(config, tokens, dtype, checkpointing=False)
    assert measured - 16 <= activation_bytes(shape, tokens, compute_bytes, checkpointing=False) <= measured


@pytest.mark.parametrize(("dtype", "compute_bytes"), [(torch.float32, 4), (torch.bfloat16, 2)])
def test_with_checkpointing_a_layer_keeps_only_its_input(dtype, compute_bytes):
    tokens = 48
    extra_layers = saved_bytes(small_config(3), tokens, dtype, True) - saved_bytes(small_config(1), tokens, dtype, True)
    shape = DecoderShape.from_config(small_config(1))
    assert extra_layers == 2 * tokens * compute_bytes * shape.hidden_size
    assert (activation_bytes(DecoderShape.from_config(small_config(3)), tokens, compute_bytes, True)
            - activation_bytes(shape, tokens, compute_bytes, True)) == extra_layers


def test_fewest_gpus_is_the_first_count_that_fits():
    recipe = {"seq_len": 4096, "micro_batch": 1}
    for checkpointing in (True, False):
        fewest = fewest_gpus(SOLAR, 80, checkpointing=checkpointing, **recipe)
        assert plan_memory(SOLAR, fewest, checkpointing=checkpointing, **recipe).total <= usable_bytes(80)
        assert plan_memory(SOLAR, fewest - 1, checkpointing=checkpointing, **recipe).total > usable_bytes(80)
    assert fewest_gpus(SOLAR, 80, checkpointing=True, **recipe) < fewest_gpus(SOLAR, 80, checkpointing=False, **recipe)
    assert fewest_gpus(SOLAR, 16, seq_len=4096, micro_batch=64) is None  # activations alone overflow every GPU


def test_the_figure_stacks_the_plan():
    figure = memory_plan_figure(SOLAR, 80, range(1, 9), seq_len=4096)
    bars = [trace for trace in figure.data if trace.type == "bar"]
    assert [bar.name for bar in bars] == ["parameters", "gradients", "optimizer", "activations", "working"]
    for index, gpus in enumerate(range(1, 9)):
        assert sum(bar.y[index] for bar in bars) == pytest.approx(plan_memory(SOLAR, gpus, seq_len=4096).total / GIB)
    assert "fits on 3 GPUs" in figure.layout.title.text


def test_the_command_prints_the_table_and_the_fewest_gpus(capsys):
    assert main(["memory-plan", "solar-10.7b-v1.0", "--gpus", "2,8"]) == 0
    printed = capsys.readouterr().out
    assert "10,731,524,096 parameters" in printed and "| 8 | 5.0 | 5.0 | 10.0 |" in printed
    assert "fewest 80 GiB GPUs with activation checkpointing: 3" in printed
