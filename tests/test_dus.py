import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

from solar_lab.architecture import DecoderShape, load_config_dict
from solar_lab.dus import (
    DusPlan,
    depth_upscale,
    mergekit_yaml,
    plan_for,
    upscaled_config,
    upscaled_names,
    upscaled_state_dict,
)


def tiny_llama(layers: int = 8, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def test_the_papers_plan():
    plan = DusPlan(32, 8)
    assert plan.depth == 48
    assert plan.kept_from_original == range(0, 24)
    assert plan.kept_from_copy == range(8, 32)
    assert plan.seam == (23, 24)
    assert plan.source_layers[23:25] == [23, 8]  # 1-based: original layer 24 meets copy layer 9
    assert plan.destinations(0) == [0] and plan.destinations(8) == [8, 24] and plan.destinations(31) == [47]
    assert plan.mergekit_slices() == [(0, 24), (8, 32)]


def test_solar_config_is_mistral_upscaled():
    solar = DecoderShape.from_config(upscaled_config(load_config_dict("mistral-7b-v0.1"), 8))
    assert solar.num_hidden_layers == 48
    assert solar.total_parameters() == 10_731_524_096


def test_naive_repeat_keeps_every_layer_twice():
    plan = DusPlan(32, 0)
    assert plan.depth == 64
    assert all(plan.destinations(layer) == [layer, layer + 32] for layer in range(32))


@pytest.mark.parametrize("m", [-1, 16, 17, 40, 2.5, True, "8"])
def test_m_out_of_range_is_explained(m):
    with pytest.raises(ValueError, match="0 <= m < n/2 = 16"):
        DusPlan(32, m)


def test_too_shallow_base():
    with pytest.raises(ValueError, match="at least 2 layers"):
        DusPlan(1, 0)


def test_layer_names_are_renumbered_and_others_kept():
    plan = DusPlan(8, 2)
    assert upscaled_names("model.layers.1.mlp.up_proj.weight", plan) == ["model.layers.1.mlp.up_proj.weight"]
    assert upscaled_names("model.layers.3.self_attn.q_proj.weight", plan) == [
        "model.layers.3.self_attn.q_proj.weight", "model.layers.7.self_attn.q_proj.weight"]
    assert upscaled_names("model.layers.7.input_layernorm.weight", plan) == ["model.layers.11.input_layernorm.weight"]
    assert upscaled_names("model.norm.weight", plan) == ["model.norm.weight"]
    assert upscaled_names("lm_head.weight", plan) == ["lm_head.weight"]
    with pytest.raises(ValueError, match="names layer 8"):
        upscaled_names("model.layers.8.mlp.up_proj.weight", plan)


def test_state_dict_mapping_uses_each_source_tensor():
    model = tiny_llama()
    state = model.state_dict()
    new = upscaled_state_dict(state, DusPlan(8, 2))
    assert len(new) == len(state) + 4 * 9  # layers 2..5 appear twice, 9 tensors per layer
    assert new["model.layers.6.mlp.down_proj.weight"] is state["model.layers.2.mlp.down_proj.weight"]


@pytest.mark.parametrize("m", [0, 2, 3])
def test_every_tensor_equals_its_planned_source(m):
    model = tiny_llama()
    upscaled = depth_upscale(model, m)
    plan = DusPlan(8, m)
    assert upscaled.config.num_hidden_layers == plan.depth == len(upscaled.model.layers)
    source = model.state_dict()
    for name, tensor in upscaled.state_dict().items():
        if ".layers." in name:
            index = int(name.split(".")[2])
            origin = name.replace(f"layers.{index}.", f"layers.{plan.source_layers[index]}.", 1)
        else:
            origin = name
        assert torch.equal(tensor, source[origin]), name


def test_copies_are_independent_tensors():
    upscaled = depth_upscale(tiny_llama(), 2)
    first, second = upscaled.model.layers[2].mlp.up_proj.weight, upscaled.model.layers[6].mlp.up_proj.weight
    assert torch.equal(first, second)
    with torch.no_grad():
        first.add_(1.0)
    assert not torch.equal(first, second)


def test_kv_cache_generation_matches_generation_without_cache():
    upscaled = depth_upscale(tiny_llama(), 2)
    assert [layer.self_attn.layer_idx for layer in upscaled.model.layers] == list(range(12))
    prompt = torch.tensor([[1, 17, 33, 5, 60]])
    with_cache = upscaled.generate(prompt, max_new_tokens=12, do_sample=False, use_cache=True)
    without_cache = upscaled.generate(prompt, max_new_tokens=12, do_sample=False, use_cache=False)
    assert with_cache.shape == (1, 17)
    assert torch.equal(with_cache, without_cache)


def test_mistral_models_upscale_too():
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    upscaled = depth_upscale(MistralForCausalLM(config).eval(), 1)
    assert isinstance(upscaled, MistralForCausalLM) and upscaled.config.num_hidden_layers == 6


def test_save_and_load_round_trip(tmp_path):
    upscaled = depth_upscale(tiny_llama(), 2)
    upscaled.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.num_hidden_layers == 12
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        assert torch.equal(loaded(tokens).logits, upscaled(tokens).logits)


def test_upscaled_config_rebuilds_per_layer_lists():
    config = {**load_config_dict("mistral-7b-v0.1"), "layer_types": [f"kind{i}" for i in range(32)]}
    new = upscaled_config(config, 8)
    assert new["num_hidden_layers"] == 48 and len(new["layer_types"]) == 48
    assert new["layer_types"][24] == "kind8"
    assert config["num_hidden_layers"] == 32  # the input is not changed


def test_non_llama_models_are_refused():
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=4, n_embd=32, n_head=4, vocab_size=64))
    with pytest.raises(ValueError, match="depth_upscale takes a Llama-family"):
        depth_upscale(gpt2, 1)
    with pytest.raises(ValueError, match="not a Llama-family decoder"):
        plan_for(gpt2.config.to_dict() | {"num_hidden_layers": 4, "hidden_size": 32, "intermediate_size": 64,
                                          "num_attention_heads": 4}, 1)


def test_depth_upscale_rejects_bad_m_before_building_anything():
    with pytest.raises(ValueError, match="m=4 is out of range for a model with 8 layers"):
        depth_upscale(tiny_llama(), 4)


def test_mergekit_yaml_lists_the_two_slices():
    text = mergekit_yaml("/models/mistral", DusPlan(32, 8))
    assert "layer_range: [0, 24]" in text and "layer_range: [8, 32]" in text
    assert text.count("model: /models/mistral") == 2 and "merge_method: passthrough" in text
