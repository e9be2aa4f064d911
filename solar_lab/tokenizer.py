"""A SentencePiece BPE tokenizer laid out like Llama's, so transformers and llama.cpp both read it.

Like Llama 2, Mistral and SOLAR: ``<unk>`` = 0, ``<s>`` = 1, ``</s>`` = 2, digits split one
by one, and 256 ``<0xNN>`` byte pieces so that any character, even one never seen in
training, becomes bytes instead of ``<unk>``. A saved directory holds ``tokenizer.model``
(the SentencePiece file), ``tokenizer.json``, ``tokenizer_config.json`` and
``special_tokens_map.json``, the files a real Llama-family checkpoint ships.

One known difference: for a text that starts with a space, transformers' Metaspace
pre-tokenizer does not add the extra leading "▁" that SentencePiece adds, so the two
disagree on such texts (as they do for real Llama tokenizers); corpus texts never start
with a space.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

import sentencepiece as spm
from transformers import AutoTokenizer, PreTrainedTokenizerBase

UNK, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
BYTE_PIECES = 256
TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def train_sentencepiece(lines: Iterable[str], vocab_size: int = 512) -> bytes:
    """Train a Llama-style BPE model on ``lines`` and return the serialized ``tokenizer.model``."""
    lines = list(lines)
    if not lines:
        raise ValueError("cannot train a tokenizer on no text; pass at least one line")
    characters = len(set("".join(lines)))
    if vocab_size < characters + BYTE_PIECES + 3:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: it must hold the 3 special pieces, "
            f"{BYTE_PIECES} byte pieces and the text's {characters} characters "
            f"(at least {characters + BYTE_PIECES + 3})"
        )
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        split_digits=True,
        character_coverage=1.0,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        pad_id=-1,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def save_tokenizer(model_proto: bytes, directory: str | Path) -> Path:
    """Write the tokenizer files into ``directory`` (made if needed; each file written atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        scratch = Path(scratch)
        (scratch / "tokenizer.model").write_bytes(model_proto)
        config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False,
                  "legacy": False, "clean_up_tokenization_spaces": False, **SPECIAL_TOKENS}
        (scratch / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        AutoTokenizer.from_pretrained(scratch).save_pretrained(scratch)  # converts to tokenizer.json
        (scratch / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (scratch / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")
        for name in TOKENIZER_FILES:
            os.replace(scratch / name, directory / name)
    return directory


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """The saved tokenizer as transformers loads it; encoding starts with ``<s>``."""
    directory = Path(directory)
    if not (directory / "tokenizer.model").is_file():
        raise ValueError(f"{directory} holds no tokenizer.model; save one with save_tokenizer first")
    return AutoTokenizer.from_pretrained(directory)


def load_sentencepiece(directory: str | Path) -> spm.SentencePieceProcessor:
    """The raw SentencePiece processor of a saved tokenizer (no BOS is added by it)."""
    path = Path(directory) / "tokenizer.model"
    if not path.is_file():
        raise ValueError(f"{path} does not exist; save a tokenizer with save_tokenizer first")
    return spm.SentencePieceProcessor(model_file=str(path))
