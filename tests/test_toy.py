"""The shipped toy checkpoints: they load like real ones, have the recipe's shape, and know the world."""

import json
from importlib import resources

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from solar_lab import toy
from solar_lab.architecture import DecoderShape
from solar_lab.corpus import is_held_out
from solar_lab.knowledge import measure
from solar_lab.recipe import RECIPE
from solar_lab.tokenizer import BOS, EOS, TOKENIZER_FILES

MAX_BYTES = 40_000_000
"""All shipped model assets together."""


@pytest.fixture(scope="module")
def result():
    return json.loads((resources.files("solar_lab") / "data" / "dus_seeds.json").read_text())


def test_shipped_folders_have_the_llama_layout_and_fit():
    names = {"config.json", "generation_config.json", "model.safetensors", *TOKENIZER_FILES}
    total = 0
    for stage in toy.STAGES:
        folder = toy.checkpoint_path(stage)
        assert {p.name for p in folder.iterdir()} == names
        total += sum(p.stat().st_size for p in folder.iterdir())
    assert total <= MAX_BYTES
    tokenizers = {(toy.checkpoint_path(stage) / "tokenizer.model").read_bytes() for stage in toy.STAGES}
    assert len(tokenizers) == 1


def test_configs_are_the_recipes_mistral_shape_with_k_quant_friendly_widths():
    ignored = {"dtype": None, "architectures": None, "_name_or_path": None, "transformers_version": None}
    for stage, layers in (("toy-base", RECIPE.layers), ("toy-solar-base", RECIPE.upscaled_layers)):
        config = AutoConfig.from_pretrained(toy.checkpoint_path(stage))
        assert config.to_dict() | ignored == toy.toy_config(layers).to_dict() | ignored
        shape = DecoderShape.from_config(config)
        assert shape.num_attention_heads // shape.num_key_value_heads == 4
        assert shape.hidden_size % 256 == 0 and shape.intermediate_size % 256 == 0
        assert (config.bos_token_id, config.eos_token_id) == (BOS, EOS)


def test_load_gives_float32_eval_model_and_tokenizer_that_agree_with_auto_classes():
    model, tokenizer = toy.load("toy-base")
    auto_model = AutoModelForCausalLM.from_pretrained(toy.checkpoint_path())
    assert torch.equal(auto_model.lm_head.weight.float(), model.lm_head.weight)
    text = toy.corpus().held_out[0]
    assert tokenizer(text).input_ids == AutoTokenizer.from_pretrained(toy.checkpoint_path())(text).input_ids
    assert tokenizer(text).input_ids[0] == BOS and len(tokenizer) == RECIPE.vocab_size
    assert model.dtype == torch.float32 and not model.training
    with pytest.raises(ValueError, match="no shipped stage 'toy-sft'"):
        toy.load("toy-sft")


def test_the_chat_template_has_pieces_of_its_own():
    _, tokenizer = toy.load("toy-base")
    assert len(tokenizer("### User:\nWho are you?\n\n### Assistant:\n").input_ids) < 20


def test_training_blocks_pack_documents_of_one_seed_and_differ_between_seeds():
    _, tokenizer = toy.load("toy-base")
    first, again, other = (next(toy.training_blocks(tokenizer, seed)) for seed in (0, 0, 1))
    assert first.shape == (RECIPE.batch_size, RECIPE.block_size) and torch.equal(first, again)
    assert not torch.equal(first, other)
    stream = first.flatten().tolist()
    assert stream[0] == BOS and EOS in stream
    documents = tokenizer.decode(stream).replace("</s>", "\n").replace("<s>", "").split("\n")
    assert not any(is_held_out(text.strip()) for text in documents[1:-1])


@pytest.mark.slow
def test_shipped_checkpoints_know_what_the_result_file_says(result):
    """The shipped base and toy-solar-base score on the probe what the multi-seed file recorded for seed 0."""
    first = str(RECIPE.seeds[0])
    _, tokenizer = toy.load("toy-base")
    probe = toy.probe(tokenizer)
    for stage, arm in (("toy-base", "base"), ("toy-solar-base", "up-scaled")):
        model, _ = toy.load(stage)
        known = measure(model, probe)
        assert known.facts_accuracy(toy.world()) == pytest.approx(result["seeds"][first][arm]["accuracy"][-1], abs=2e-3)
    assert result["recipe"]["people"] == RECIPE.people and result["recipe"]["seeds"] == list(RECIPE.seeds)
