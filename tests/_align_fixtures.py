"""A tiny random Llama and a SentencePiece tokenizer trained on the alignment data, for fast tests."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from solar_lab import instruct_data
from solar_lab.prompt import solar_prompt
from solar_lab.tokenizer import load_tokenizer, save_tokenizer, train_sentencepiece


def preferences() -> list[dict[str, str]]:
    """The shipped training preference pairs, every kind."""
    return instruct_data.load("preference", "train")


def make_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """A 400-piece tokenizer trained on the preference prompts and answers in SOLAR's template."""
    rows = preferences()
    lines = [solar_prompt(row["prompt"]) + row["chosen"] for row in rows] + [row["rejected"] for row in rows]
    save_tokenizer(train_sentencepiece(lines, vocab_size=400), directory)
    return load_tokenizer(directory)


def make_model(vocab_size: int, seed: int = 0, layers: int = 2) -> LlamaForCausalLM:
    """A random Llama small enough that a training step takes milliseconds."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()
