"""A tiny Llama checkpoint and text files for the continued-pretraining tests, independent of the shipped toy."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from _gguf_fixtures import sentences
from solar_lab.tokenizer import BOS, EOS, save_tokenizer, train_sentencepiece

CONTEXT = 128


def make_tokenizer(directory: Path) -> Path:
    """A 300-piece Llama-style tokenizer trained on ``sentences``, saved in ``directory``."""
    return save_tokenizer(train_sentencepiece(sentences(500, seed=1), vocab_size=300), directory)


def make_tiny_llama(directory: Path, hidden_size: int = 64, seed: int = 0) -> Path:
    """A random 2-layer Llama (fp32 safetensors, context ``CONTEXT``) with ``make_tokenizer``'s tokenizer."""
    make_tokenizer(directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=300,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=CONTEXT,
        tie_word_embeddings=False,
        bos_token_id=BOS,
        eos_token_id=EOS,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def write_lines(path: Path, lines: list[str]) -> Path:
    """A .txt corpus: one document a line."""
    path.write_text("".join(line + "\n" for line in lines))
    return path
