"""The Llama-style tokenizer: ids, byte fallback, BOS, and transformers agreeing with SentencePiece."""

import json
import shutil

import pytest
from transformers import AutoTokenizer

from solar_lab.corpus import make_corpus
from solar_lab.world import World
from solar_lab.tokenizer import (BOS, EOS, UNK, TOKENIZER_FILES, load_sentencepiece, load_tokenizer,
                                 save_tokenizer, train_sentencepiece)

UNSEEN = "Zürich ☃ naïve — 東京"


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(World.make(200, seed=1), seed=1, train_chars=40_000)


@pytest.fixture(scope="module")
def saved(corpus, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer(train_sentencepiece(corpus.train, vocab_size=400), directory)
    return directory


def test_files_and_special_ids(saved):
    assert sorted(p.name for p in saved.iterdir()) == sorted(TOKENIZER_FILES)
    sp = load_sentencepiece(saved)
    assert [sp.id_to_piece(i) for i in (UNK, BOS, EOS)] == ["<unk>", "<s>", "</s>"]
    assert [sp.piece_to_id(f"<0x{b:02X}>") for b in (0, 255)] == [3, 258]
    assert sp.get_piece_size() == 400
    config = json.loads((saved / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "LlamaTokenizer" and config["add_bos_token"] is True


def test_encoding_starts_with_one_bos(saved):
    tokenizer = AutoTokenizer.from_pretrained(saved)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (BOS, EOS, UNK)
    single = tokenizer("Ken runs faster than John.").input_ids
    batch = tokenizer(["7 + 5 = 12.", "Where does Omar live?"]).input_ids
    assert single[0] == BOS and single.count(BOS) == 1
    assert [ids[0] for ids in batch] == [BOS, BOS]
    assert tokenizer.encode("7 + 5 = 12.")[0] == BOS
    assert BOS not in tokenizer("7 + 5 = 12.", add_special_tokens=False).input_ids


def test_round_trip_and_digits_split(saved, corpus):
    tokenizer = load_tokenizer(saved)
    for text in corpus.held_out[:200]:
        assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("123 + 456", add_special_tokens=False).input_ids)
    assert [p for p in pieces if p.strip("▁").isdigit()] == ["1", "2", "3", "4", "5", "6"]


def test_unknown_characters_fall_back_to_bytes(saved):
    tokenizer, sp = load_tokenizer(saved), load_sentencepiece(saved)
    ids = tokenizer(UNSEEN, add_special_tokens=False).input_ids
    assert UNK not in ids
    assert sum(3 <= i < 259 for i in ids) >= len("☃東京".encode())
    assert tokenizer.decode(ids) == UNSEEN == sp.decode(sp.encode(UNSEEN))


def test_transformers_agrees_with_sentencepiece(saved, corpus):
    tokenizer, sp = load_tokenizer(saved), load_sentencepiece(saved)
    texts = corpus.held_out + [UNSEEN, "a  b   c", "line\nbreak"]
    hf = tokenizer(texts).input_ids
    assert hf == [[BOS, *ids] for ids in sp.encode(texts)]


def test_conversion_from_tokenizer_model_alone_agrees(saved, corpus, tmp_path):
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(saved / name, tmp_path / name)
    converted, stored = AutoTokenizer.from_pretrained(tmp_path), load_tokenizer(saved)
    texts = corpus.held_out[:100] + [UNSEEN]
    assert converted(texts).input_ids == stored(texts).input_ids


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="too small"):
        train_sentencepiece(["hello world"], vocab_size=100)
    with pytest.raises(ValueError, match="no text"):
        train_sentencepiece([], vocab_size=400)
    with pytest.raises(ValueError, match="tokenizer.model"):
        load_tokenizer(tmp_path)
