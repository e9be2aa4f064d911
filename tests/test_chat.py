"""SOLAR's prompt format and streamed generation through llama.cpp."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from _gguf_fixtures import make_checkpoint
from solar_lab.chat import ARTICLE_PROMPTS, chat, stream_tokens
from solar_lab.prompt import solar_prompt
from solar_lab.gguf_export import export_gguf
from solar_lab.gguf_file import load_model
from solar_lab.quantize import quantize


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=3)
    return checkpoint, export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_the_article_prompts():
    assert len(ARTICLE_PROMPTS) == 5 and ARTICLE_PROMPTS[0] == "Who are you?"


def test_greedy_reply_matches_pytorch(model):
    checkpoint, path = model
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    prompt = solar_prompt(ARTICLE_PROMPTS[3])
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    network = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        expected = network.generate(ids, max_new_tokens=16, do_sample=False)[0, ids.shape[1] :].tolist()
    with load_model(path, type_k=0, type_v=0) as llm:
        streamed = [token for token, _ in stream_tokens(llm, prompt, max_tokens=16)]
    assert streamed == expected[: len(streamed)] and len(streamed) > 0


def test_chat_streams_pieces_and_times_them(model):
    _, path = model
    pieces = []
    with load_model(path) as llm:
        result = chat(llm, ARTICLE_PROMPTS[0], system="Answer briefly.", max_tokens=12, on_text=pieces.append)
        assert result.prompt_tokens == len(llm.tokenize(solar_prompt(ARTICLE_PROMPTS[0], "Answer briefly.").encode()))
    assert "".join(pieces) == result.text and result.tokens == len(pieces) <= 12
    assert result.seconds >= result.seconds_to_first_token > 0 and result.tokens_per_second > 0


class ScriptedModel:
    """Stands in for llama_cpp.Llama: 'generates' a fixed token list, one byte string per token."""

    def __init__(self, pieces: list[bytes], eos: int = 2, n_ctx: int = 64):
        self.pieces, self.eos, self.context = pieces, eos, n_ctx

    def tokenize(self, text: bytes, add_bos: bool = True) -> list[int]:
        return [1] + list(text)

    def generate(self, tokens, **sampling):
        yield from range(10, 10 + len(self.pieces))
        yield self.eos

    def detokenize(self, tokens: list[int]) -> bytes:
        return self.pieces[tokens[0] - 10]

    def token_eos(self) -> int:
        return self.eos

    def n_ctx(self) -> int:
        return self.context


def test_stops_at_eos_and_at_the_text_stop():
    assert [piece for _, piece in stream_tokens(ScriptedModel([b"Hi", b" there"]), "x")] == ["Hi", " there"]
    stopped = stream_tokens(ScriptedModel([b"Hi", b"</", b"s>", b"more"]), "x")
    assert [piece for _, piece in stopped] == ["Hi", "</"]


def test_split_characters_and_context_limits():
    euro = "€".encode()
    pieces = [piece for _, piece in stream_tokens(ScriptedModel([euro[:1], euro[1:], b"!"]), "x")]
    assert pieces == ["", "€", "!"]
    assert len(list(stream_tokens(ScriptedModel([b"a"] * 50, n_ctx=20), "0123456789"))) == 20 - 11
    with pytest.raises(ValueError, match="larger n_ctx"):
        list(stream_tokens(ScriptedModel([b"a"], n_ctx=8), "0123456789"))


@pytest.mark.parametrize("max_tokens", [0, -5])
def test_max_tokens_below_one_is_refused(max_tokens):
    with pytest.raises(ValueError, match="max_tokens must be at least 1"):
        next(stream_tokens(ScriptedModel([b"Hi"]), "x", max_tokens=max_tokens))


def test_quantized_model_chats(model, tmp_path):
    _, path = model
    with load_model(quantize(path, tmp_path / "tiny.Q4_K_M.gguf", "Q4_K_M")) as llm:
        assert chat(llm, ARTICLE_PROMPTS[4], max_tokens=8).tokens > 0
