"""The shipped toy base: loads like a real checkpoint, has the intended shape, and has learned."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from solar_lab import toy
from solar_lab.architecture import DecoderShape
from solar_lab.tokenizer import BOS, EOS, TOKENIZER_FILES
from solar_lab.corpus import is_held_out, make_corpus
from solar_lab.training import evaluate_loss, token_blocks

MAX_BYTES = 10_000_000


def test_shipped_directory_has_the_llama_layout_and_fits():
    path = toy.base_path()
    names = {p.name for p in path.iterdir()}
    assert names == {"config.json", "generation_config.json", "model.safetensors", *TOKENIZER_FILES}
    assert sum(p.stat().st_size for p in path.iterdir()) <= MAX_BYTES


def test_config_is_mistral_shaped_with_k_quant_friendly_widths():
    config = AutoConfig.from_pretrained(toy.base_path())
    ignored = {"dtype": None, "architectures": None, "_name_or_path": None}
    assert config.to_dict() | ignored == toy.toy_config().to_dict() | ignored
    shape = DecoderShape.from_config(config)
    assert shape.model_type == "llama" and shape.num_attention_heads // shape.num_key_value_heads == 4
    assert shape.hidden_size % 256 == 0 and shape.intermediate_size % 256 == 0
    assert (config.bos_token_id, config.eos_token_id) == (BOS, EOS)


def test_load_base_gives_float32_model_and_tokenizer_that_agree_with_auto_classes():
    model, tokenizer = toy.load_base()
    auto_model = AutoModelForCausalLM.from_pretrained(toy.base_path())
    assert torch.equal(auto_model.lm_head.weight.float(), model.lm_head.weight)
    auto_tokenizer = AutoTokenizer.from_pretrained(toy.base_path())
    text = toy.corpus().held_out[0]
    assert tokenizer(text).input_ids == auto_tokenizer(text).input_ids
    assert tokenizer(text).input_ids[0] == BOS and len(tokenizer) == toy.VOCAB_SIZE
    assert model.dtype == torch.float32 and not model.training


def test_shipped_model_beats_a_random_one_on_held_out_text():
    model, tokenizer = toy.load_base()
    _, held_out = toy.corpus_blocks(tokenizer)
    sample = held_out[:16]
    torch.manual_seed(0)
    untrained = LlamaForCausalLM(toy.toy_config())
    trained_loss, random_loss = evaluate_loss(model, sample), evaluate_loss(untrained, sample)
    assert random_loss > 5.5
    assert trained_loss < random_loss / 4


def test_new_text_continues_the_corpus_where_the_base_stopped():
    tokenizer = toy.load_tokenizer_of_base()
    blocks = toy.new_text_blocks(tokenizer, 6)
    assert blocks.shape == (6, toy.BLOCK_SIZE)
    seen = toy.corpus()
    longer = make_corpus(toy.CORPUS_SEED, train_chars=len(seen.text("train")) + 10_000)
    assert longer.train[: len(seen.train)] == seen.train and longer.held_out[: len(seen.held_out)] == seen.held_out
    expected = token_blocks(tokenizer, longer.train[len(seen.train):], toy.BLOCK_SIZE)[:6]
    assert torch.equal(blocks, expected)
    assert not any(is_held_out(text) for text in longer.train)


def test_new_text_needs_a_positive_row_count():
    with pytest.raises(ValueError, match="rows must be positive"):
        toy.new_text_blocks(toy.load_tokenizer_of_base(), 0)
