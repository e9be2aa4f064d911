"""The toy models: tiny Mistral-shaped Llama decoders shipped with the package, and their data.

Same recipe as Mistral 7B and SOLAR 10.7B (RMSNorm, rotary positions, SwiGLU MLP,
grouped-query attention with 4 query heads per key/value head, untied LM head), only
small: width 256, so they train on a laptop CPU. Widths are multiples of 256 because
llama.cpp's K-quants pack rows in blocks of 256. ``solar_lab.recipe`` holds the shapes and
the training recipe; the shipped checkpoints are the stages of ``recipe.STAGES``, made by
``tools/make_lineage.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase

from solar_lab.corpus import Corpus, make_corpus
from solar_lab.recipe import RECIPE, STAGES
from solar_lab.tokenizer import BOS, EOS, load_tokenizer
from solar_lab.training import token_blocks

CORPUS_SEED = 0
"""Seed of the toy corpus: its world, its held-out split and the tokenizer's training text."""
VOCAB_SIZE = 512
BLOCK_SIZE = RECIPE.block_size
"""Tokens per training row; the model's context is twice that."""


def toy_config(num_hidden_layers: int = RECIPE.base_layers, vocab_size: int = VOCAB_SIZE) -> LlamaConfig:
    """The toy model's config: Mistral's layout at the recipe's widths with ``num_hidden_layers`` layers."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=RECIPE.hidden_size,
        intermediate_size=RECIPE.intermediate_size,
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


def assets_path() -> Path:
    """The directory holding every shipped checkpoint."""
    return Path(str(resources.files("solar_lab") / "assets"))


def checkpoint_path(stage: str) -> Path:
    """The directory of one shipped stage of the lineage (config, weights, tokenizer files)."""
    if stage not in STAGES:
        raise ValueError(f"no shipped checkpoint {stage!r}; choose one of {', '.join(STAGES)}")
    return assets_path() / stage


def load(stage: str, dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A shipped stage of the lineage (in ``dtype``, eval mode) and its tokenizer."""
    path = checkpoint_path(stage)
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"no shipped checkpoint at {path}; regenerate the lineage with `python tools/make_lineage.py`")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.eval(), load_tokenizer(path)


def base_path() -> Path:
    """The directory of the shipped base model, the lineage's first stage."""
    return checkpoint_path("toy-base")


def load_tokenizer_of_base() -> PreTrainedTokenizerBase:
    """The shipped tokenizer (SentencePiece BPE with byte fallback, loaded by transformers)."""
    return load_tokenizer(base_path())


def load_base(dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The shipped base model (in ``dtype``, eval mode) and its tokenizer."""
    return load("toy-base", dtype)


def corpus() -> Corpus:
    """The toy corpus: the tokenizer's training text and the held-out split every loss is measured on."""
    return make_corpus(CORPUS_SEED)


def text_blocks(tokenizer: PreTrainedTokenizerBase, part: int, rows: int, block_size: int = BLOCK_SIZE) -> torch.Tensor:
    """The first ``rows`` token blocks of the training documents of corpus part ``part``.

    Parts are other documents about the same world (``make_corpus(CORPUS_SEED, part=part)``);
    the base pretrains on ``recipe.BASE_PART`` and continued pretraining reads
    ``recipe.NEW_TEXT_PART``, text the base never saw. Held-out documents stay out of every part.
    """
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    chars_per_row = 3 * block_size  # more than enough: the tokenizer averages about 2.3 characters per token
    documents = make_corpus(CORPUS_SEED, train_chars=rows * chars_per_row, part=part).train
    blocks = token_blocks(tokenizer, documents, block_size)
    if len(blocks) < rows:
        raise ValueError(f"made only {len(blocks)} of {rows} blocks; raise chars_per_row in text_blocks")
    return blocks[:rows]


def corpus_blocks(tokenizer: PreTrainedTokenizerBase, block_size: int = BLOCK_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """The corpus' training and held-out splits as token blocks (``(rows, block_size)`` tensors)."""
    data = corpus()
    return token_blocks(tokenizer, data.train, block_size), token_blocks(tokenizer, data.held_out, block_size)
