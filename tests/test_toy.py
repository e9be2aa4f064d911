"""The shipped toy lineage: loads like real checkpoints, has the intended shapes, and each stage is what it says."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from solar_lab import averaging, toy
from solar_lab.architecture import DecoderShape
from solar_lab.corpus import is_held_out, make_corpus
from solar_lab.recipe import NEW_TEXT_PART, RECIPE, STAGES
from solar_lab.tokenizer import BOS, EOS, TOKENIZER_FILES
from solar_lab.training import evaluate_loss, token_blocks

MAX_BYTES = 40_000_000
"""All shipped model assets together (issue: at most 40 MB)."""


def test_every_stage_has_the_llama_layout_and_all_fit_in_40_mb():
    total = 0
    for stage in STAGES:
        path = toy.checkpoint_path(stage)
        names = {p.name for p in path.iterdir()}
        assert names == {"config.json", "generation_config.json", "model.safetensors", *TOKENIZER_FILES}, stage
        total += sum(p.stat().st_size for p in path.iterdir())
    assert {p.name for p in toy.assets_path().iterdir()} == set(STAGES)
    assert total <= MAX_BYTES


@pytest.mark.parametrize("stage", STAGES)
def test_config_is_mistral_shaped_with_k_quant_friendly_widths(stage):
    config = AutoConfig.from_pretrained(toy.checkpoint_path(stage))
    layers = RECIPE.base_layers if stage == "toy-base" else RECIPE.upscaled_layers
    ignored = {"dtype": None, "architectures": None, "_name_or_path": None, "transformers_version": None}
    assert config.to_dict() | ignored == toy.toy_config(layers).to_dict() | ignored
    shape = DecoderShape.from_config(config)
    assert shape.model_type == "llama" and shape.num_attention_heads // shape.num_key_value_heads == 4
    assert shape.hidden_size % 256 == 0 and shape.intermediate_size % 256 == 0
    assert (config.bos_token_id, config.eos_token_id) == (BOS, EOS)


def test_unknown_stage_names_the_shipped_ones():
    with pytest.raises(ValueError, match="toy-solar-instruct"):
        toy.checkpoint_path("toy-solar-chat")


def test_load_base_gives_float32_model_and_tokenizer_that_agree_with_auto_classes():
    model, tokenizer = toy.load_base()
    auto_model = AutoModelForCausalLM.from_pretrained(toy.base_path())
    assert torch.equal(auto_model.lm_head.weight.float(), model.lm_head.weight)
    auto_tokenizer = AutoTokenizer.from_pretrained(toy.base_path())
    text = toy.corpus().held_out[0]
    assert tokenizer(text).input_ids == auto_tokenizer(text).input_ids
    assert tokenizer(text).input_ids[0] == BOS and len(tokenizer) == toy.VOCAB_SIZE
    assert model.dtype == torch.float32 and not model.training


def test_every_stage_shares_one_tokenizer():
    first = toy.checkpoint_path(STAGES[0])
    for stage in STAGES[1:]:
        for name in TOKENIZER_FILES:
            assert (toy.checkpoint_path(stage) / name).read_bytes() == (first / name).read_bytes(), (stage, name)


def test_shipped_base_beats_a_random_model_and_continued_pretraining_beats_the_base():
    model, tokenizer = toy.load_base()
    _, held_out = toy.corpus_blocks(tokenizer)
    sample = held_out[:32]
    torch.manual_seed(0)
    untrained = LlamaForCausalLM(toy.toy_config())
    base_loss, random_loss = evaluate_loss(model, sample), evaluate_loss(untrained, sample)
    assert random_loss > 5.5 and base_loss < random_loss / 4
    solar_base_loss = evaluate_loss(toy.load("toy-solar-base")[0], sample)
    assert solar_base_loss < base_loss


def test_toy_solar_instruct_is_the_half_and_half_average_of_the_two_dpo_candidates():
    first = load_file(toy.checkpoint_path("toy-solar-dpo-v1") / "model.safetensors")
    second = load_file(toy.checkpoint_path("toy-solar-dpo-v2") / "model.safetensors")
    shipped = load_file(toy.checkpoint_path("toy-solar-instruct") / "model.safetensors")
    average = averaging.linear_average({k: v.float() for k, v in first.items()},
                                       {k: v.float() for k, v in second.items()}, RECIPE.average_ratio)
    assert shipped.keys() == average.keys()
    assert all(torch.equal(shipped[name], average[name].to(torch.bfloat16)) for name in shipped)
    assert not torch.equal(first["lm_head.weight"], second["lm_head.weight"])


def test_text_blocks_are_training_documents_of_their_part():
    tokenizer = toy.load_tokenizer_of_base()
    blocks = toy.text_blocks(tokenizer, NEW_TEXT_PART, 6)
    assert blocks.shape == (6, toy.BLOCK_SIZE)
    documents = make_corpus(toy.CORPUS_SEED, train_chars=6 * 3 * toy.BLOCK_SIZE, part=NEW_TEXT_PART).train
    assert torch.equal(blocks, token_blocks(tokenizer, documents, toy.BLOCK_SIZE)[:6])
    assert not any(is_held_out(text) for text in documents)


def test_text_blocks_needs_a_positive_row_count_and_a_known_part():
    with pytest.raises(ValueError, match="rows must be positive"):
        toy.text_blocks(toy.load_tokenizer_of_base(), NEW_TEXT_PART, 0)
    with pytest.raises(ValueError, match="part must be 0 or more"):
        make_corpus(toy.CORPUS_SEED, 100, part=-1)
