import pytest
from transformers import LlamaConfig

from solar_lab.architecture import (
    PUBLISHED_CONFIGS,
    DecoderShape,
    count_by_component,
    load_config,
    load_config_dict,
    meta_model,
)

# Parameter counts of the published checkpoints (BRIEF.md; the SOLAR figure is the paper's 10.7B).
PUBLISHED_TOTALS = {
    "llama-2-7b": 6_738_415_616,
    "mistral-7b-v0.1": 7_241_732_096,
    "solar-10.7b-v1.0": 10_731_524_096,
    "mixtral-8x7b-v0.1": 46_702_792_704,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_CONFIGS))
def test_formula_matches_the_model_built_on_the_meta_device(name):
    config = load_config(name)
    model = meta_model(config)
    shape = DecoderShape.from_config(config)
    assert count_by_component(model) == shape.parameters_by_component()
    assert shape.total_parameters() == PUBLISHED_TOTALS[name]
    assert all(p.device.type == "meta" for p in model.parameters())


def test_mixtral_active_parameters_count_two_of_eight_experts():
    shape = DecoderShape.from_config(load_config_dict("mixtral-8x7b-v0.1"))
    assert shape.total_parameters(active_only=True) == 12_879_925_248
    dense = DecoderShape.from_config(load_config_dict("mistral-7b-v0.1"))
    routers = 32 * 8 * 4096
    assert shape.total_parameters(active_only=True) - dense.total_parameters() == 32 * 3 * 4096 * 14336 + routers


def test_grouped_query_attention_shrinks_k_and_v():
    mistral = DecoderShape.from_config(load_config_dict("mistral-7b-v0.1"))
    llama = DecoderShape.from_config(load_config_dict("llama-2-7b"))
    assert llama.attention_per_layer() == 4 * 4096 * 4096
    assert mistral.attention_per_layer() == 2 * 4096 * 4096 + 2 * 4096 * 1024


def test_tied_embeddings_have_no_separate_head():
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, tie_word_embeddings=True)
    shape = DecoderShape.from_config(config)
    assert shape.parameters_by_component()["lm_head"] == 0
    assert shape.total_parameters() == sum(count_by_component(meta_model(config)).values())


def test_missing_fields_are_named():
    values = load_config_dict("mistral-7b-v0.1")
    del values["intermediate_size"], values["vocab_size"]
    with pytest.raises(ValueError, match="missing intermediate_size, vocab_size"):
        DecoderShape.from_config(values)


def test_other_families_are_refused():
    values = load_config_dict("mistral-7b-v0.1") | {"model_type": "gpt2"}
    with pytest.raises(ValueError, match="'gpt2' is not a Llama-family decoder"):
        DecoderShape.from_config(values)


def test_heads_must_divide():
    values = load_config_dict("mistral-7b-v0.1") | {"num_key_value_heads": 5}
    with pytest.raises(ValueError, match="num_key_value_heads 5"):
        DecoderShape.from_config(values)


def test_unknown_shipped_config():
    with pytest.raises(ValueError, match="shipped configs are"):
        load_config("llama-3-8b")
