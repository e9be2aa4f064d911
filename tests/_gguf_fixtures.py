"""A tiny Llama checkpoint for the GGUF tests, shaped unlike the shipped toy model.

Width 256 (K-quant rows pack 256 weights) but a feed-forward width of 384, so llama.cpp
must fall back to another type for ``ffn_down``; 2 key/value heads for 4 query heads; a
vocabulary padded past the tokenizer's pieces; weights drawn large enough that a wrong
q/k permutation moves the logits far beyond the tolerance the tests use.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from solar_lab.tokenizer import save_tokenizer, train_sentencepiece

SYLLABLES = ("ka", "lo", "mi", "ten", "ar", "su", "vin", "de", "ro", "pa", "qui", "zo", "el", "ny", "bra")
PIECES = 330
VOCAB_SIZE = 336
HELD_OUT = "Kalomi ten arsu, vinde ropa quizo!\nEl nybra: 42 (ka-lo) ü 😀\n\n### User:\nWho are you?\n\n"


def sentences(count: int, seed: int) -> list[str]:
    """Pseudo-words made of a few syllables, capitalised and punctuated like text."""
    rng = random.Random(seed)
    words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(200)]
    lines = []
    for _ in range(count):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        lines.append(line.capitalize() + rng.choice([".", "!", "?", ", 17."]))
    return lines


def make_checkpoint(directory: Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """Write a random tiny Llama checkpoint (weights in ``dtype``) and its tokenizer into ``directory``."""
    save_tokenizer(train_sentencepiece(sentences(2000, seed), vocab_size=PIECES), directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=256,
        intermediate_size=384,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 500.0},
        initializer_range=0.08,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).to(dtype).save_pretrained(directory)
    return directory


def held_out_ids(tokenizer) -> list[int]:
    """Held-out text (fresh pseudo-words, unseen characters, SOLAR's prompt) as token ids."""
    return tokenizer("\n".join(sentences(40, seed=99)) + "\n" + HELD_OUT)["input_ids"]
