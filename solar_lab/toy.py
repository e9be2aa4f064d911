"""The toy model: a tiny Mistral-shaped Llama decoder shipped with the package, and its data.

Same recipe as Mistral 7B and SOLAR 10.7B (RMSNorm, rotary positions, SwiGLU MLP,
grouped-query attention with 4 query heads per key/value head, untied LM head), only
small: 8 layers of width 256, so it trains on a laptop CPU. Widths are multiples of 256
because llama.cpp's K-quants pack rows in blocks of 256.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase

from solar_lab.corpus import Corpus, make_corpus
from solar_lab.tokenizer import BOS, EOS, load_tokenizer
from solar_lab.training import token_blocks

CORPUS_SEED = 0
"""Seed of the corpus the shipped base was trained on (``make_corpus(CORPUS_SEED)``)."""
VOCAB_SIZE = 512
BLOCK_SIZE = 128
"""Tokens per training row; the model's context is twice that."""


def toy_config(num_hidden_layers: int = 8, vocab_size: int = VOCAB_SIZE) -> LlamaConfig:
    """The toy model's config: Mistral's layout at width 256 with ``num_hidden_layers`` layers."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=4,
        num_key_value_heads=1,
        hidden_act="silu",
        max_position_embeddings=2 * BLOCK_SIZE,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=None,
    )


def base_path() -> Path:
    """The directory of the shipped base model (config, weights, tokenizer files)."""
    return Path(str(resources.files("solar_lab") / "assets" / "toy-base"))


def load_tokenizer_of_base() -> PreTrainedTokenizerBase:
    """The shipped tokenizer (SentencePiece BPE with byte fallback, loaded by transformers)."""
    return load_tokenizer(base_path())


def load_base(dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The shipped base model (in ``dtype``, eval mode) and its tokenizer."""
    path = base_path()
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"no shipped base at {path}; regenerate it with `python tools/make_toy_model.py`")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.eval(), load_tokenizer(path)


def corpus() -> Corpus:
    """The corpus the shipped base was trained on."""
    return make_corpus(CORPUS_SEED)


def new_text_blocks(tokenizer: PreTrainedTokenizerBase, rows: int, block_size: int = BLOCK_SIZE) -> torch.Tensor:
    """``rows`` token blocks of training documents the base never saw, from the same source.

    They are the documents ``make_corpus(CORPUS_SEED)`` would draw after the base's corpus
    ends, so they share its world of facts and its held-out split stays held out.
    """
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    seen = corpus()
    chars_per_row = 3 * block_size  # more than enough: the tokenizer averages about 2.3 characters per token
    longer = make_corpus(CORPUS_SEED, train_chars=len(seen.text("train")) + rows * chars_per_row)
    blocks = token_blocks(tokenizer, longer.train[len(seen.train):], block_size)
    if len(blocks) < rows:
        raise ValueError(f"made only {len(blocks)} of {rows} blocks; raise chars_per_row in new_text_blocks")
    return blocks[:rows]


def corpus_blocks(tokenizer: PreTrainedTokenizerBase, block_size: int = BLOCK_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and held-out splits as token blocks (``(rows, block_size)`` tensors)."""
    data = corpus()
    return token_blocks(tokenizer, data.train, block_size), token_blocks(tokenizer, data.held_out, block_size)
