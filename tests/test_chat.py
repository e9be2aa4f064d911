"""SOLAR's prompt format and streamed generation through llama.cpp."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

pytest.importorskip("llama_cpp", reason="GGUF chat needs llama-cpp-python (pip install -e '.[gguf]')")

from _gguf_fixtures import make_checkpoint
from solar_lab import instruct_data, sft
from solar_lab.chat import (
    ARTICLE_PROMPTS,
    accuracy_by_kind,
    chat,
    greedy_answers,
    held_out_questions,
    load_model,
    stream_tokens,
)
from solar_lab.prompt import solar_prompt
from solar_lab.gguf_export import export_gguf
from solar_lab.quantize import quantize


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=3)
    return checkpoint, export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def wordy_model(tmp_path_factory):
    """The tiny model with its byte and padding rows of the LM head zeroed, so it writes word pieces.

    A random model otherwise emits stray byte tokens, which transformers and llama.cpp render
    differently as text (both right: the bytes are not UTF-8).
    """
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("wordy"), seed=3)
    network = AutoModelForCausalLM.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    pieces = [tokenizer.convert_ids_to_tokens(i) for i in range(len(tokenizer))]
    silent = [i for i, piece in enumerate(pieces) if piece.startswith("<")] + list(range(len(tokenizer), network.config.vocab_size))
    with torch.no_grad():
        network.lm_head.weight[silent] = 0
    network.save_pretrained(checkpoint)
    return checkpoint, export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "wordy.gguf")


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


def test_greedy_answers_match_pytorchs_at_f32(wordy_model):
    checkpoint, path = wordy_model
    prompts = [ARTICLE_PROMPTS[1], ARTICLE_PROMPTS[4], "Kalomi ten arsu?"]
    network = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    expected = sft.generate(network, AutoTokenizer.from_pretrained(checkpoint), prompts, max_new_tokens=12)
    with load_model(path, type_k=0, type_v=0) as llm:
        answers = greedy_answers(llm, prompts, max_tokens=12)
    assert answers == expected and all(answers) and len(set(answers)) == len(prompts)


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


def test_loading_checks_the_file_first(tmp_path, model):
    _, path = model
    (tmp_path / "half.gguf").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.off"):
        with load_model(tmp_path / "half.gguf"):
            pass


def test_quantized_model_chats(model, tmp_path):
    _, path = model
    with load_model(quantize(path, tmp_path / "tiny.Q4_K_M.gguf", "Q4_K_M")) as llm:
        assert chat(llm, ARTICLE_PROMPTS[4], max_tokens=8).tokens > 0


def test_held_out_questions_are_the_unique_held_out_prompts():
    rows = instruct_data.load("preference", "held_out")
    questions = held_out_questions()
    assert [q["prompt"] for q in questions] == list(dict.fromkeys(r["prompt"] for r in rows))
    assert all(q in rows for q in questions) and {q["kind"] for q in questions} == set(instruct_data.KINDS)


def test_accuracy_by_kind_counts_answers_that_show_the_preference():
    rows = [
        {"kind": "premise", "chosen": "A cow is a mammal, so it does not lay eggs.", "prompt": "p1"},
        {"kind": "premise", "chosen": "A duck can lay about 200 eggs in a year.", "prompt": "p2"},
        {"kind": "comparison", "chosen": "No. Magnus runs faster than John, who runs faster than Ken.", "prompt": "p3"},
        {"kind": "math", "chosen": "Omar has 70 coins now.", "prompt": "p4"},
        {"kind": "math", "chosen": "12 apples are left.", "prompt": "p5"},
    ]
    answers = [
        "A cow does not lay eggs.",            # corrects the false premise: right
        "A duck is a mammal.",                 # refuses a true premise: wrong
        "No. Ken is the slowest.",             # same Yes/No: right
        "53 + 17 = 70. Omar has 70 coins now.",  # same last number: right
        "12 apples are left, 13 in all.",      # last number differs: wrong
    ]
    assert accuracy_by_kind(rows, answers) == {"premise": 0.5, "comparison": 1.0, "math": 0.5, "overall": 0.6}
    assert accuracy_by_kind(rows[3:4], answers[3:4]) == {"math": 1.0, "overall": 1.0}


def test_accuracy_by_kind_refuses_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="one answer per question"):
        accuracy_by_kind([{"kind": "math", "chosen": "1"}], [])
    with pytest.raises(ValueError, match="no questions"):
        accuracy_by_kind([], [])
