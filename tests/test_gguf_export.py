"""The GGUF exporter, checked against transformers and llama.cpp on a tiny random Llama."""

from __future__ import annotations

import io
import json

import gguf
import llama_cpp
import numpy as np
import pytest
import sentencepiece as spm
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from _gguf_fixtures import HELD_OUT, VOCAB_SIZE, held_out_ids, make_checkpoint, sentences
from solar_lab import gguf_export
from solar_lab.gguf_export import export_gguf, gguf_name, rope_theta
from solar_lab.gguf_file import field_value, next_token_logits
from solar_lab.prompt import SOLAR_CHAT_TEMPLATE, solar_prompt

N_CTX = 256
"""The tiny model's whole context: every test's ids fit one window."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("checkpoint"))


@pytest.fixture(scope="module")
def f32_gguf(checkpoint, tmp_path_factory):
    return export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.f32.gguf")


def torch_logits(checkpoint, ids: list[int]) -> np.ndarray:
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def test_tensor_names_match_gguf_py(checkpoint):
    names = AutoModelForCausalLM.from_pretrained(checkpoint).state_dict().keys()
    reference = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
    for name in names:
        assert gguf_name(name) == reference.get_name(name, try_suffixes=(".weight",))
    with pytest.raises(ValueError, match="no place in a llama GGUF"):
        gguf_name("model.layers.0.self_attn.q_proj.bias")


def test_llama_cpp_tokenizes_like_transformers(checkpoint, f32_gguf):
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    llm = llama_cpp.Llama(str(f32_gguf), vocab_only=True, verbose=False)
    try:
        for text in ["\n".join(sentences(40, seed=99)), HELD_OUT, solar_prompt("Who are you?", "Be brief.")]:
            assert llm.tokenize(text.encode(), add_bos=True) == tokenizer(text)["input_ids"]
    finally:
        llm.close()


def test_f32_logits_match_pytorch(checkpoint, f32_gguf):
    ids = held_out_ids(AutoTokenizer.from_pretrained(checkpoint))[:200]
    expected = torch_logits(checkpoint, ids)
    assert np.abs(expected).max() > 1.0  # large enough that a layout mistake would show
    assert np.abs(next_token_logits(f32_gguf, ids, N_CTX) - expected).max() < 1e-3
    f16_cache = next_token_logits(f32_gguf, ids, N_CTX, f32_cache=False)
    assert 1e-3 < np.abs(f16_cache - expected).max() < 0.1  # llama.cpp's default cache: close, not exact


def test_bfloat16_checkpoint_exports_exactly(tmp_path):
    checkpoint = make_checkpoint(tmp_path / "bf16", seed=6, dtype=torch.bfloat16)
    path = export_gguf(checkpoint, tmp_path / "bf16.gguf")
    ids = held_out_ids(AutoTokenizer.from_pretrained(checkpoint))[:100]
    assert np.abs(next_token_logits(path, ids, N_CTX) - torch_logits(checkpoint, ids)).max() < 1e-3


def test_without_the_qk_permutation_logits_are_wrong(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(gguf_export, "permute_for_rope", lambda weights, n_head: weights)
    path = export_gguf(checkpoint, tmp_path / "unpermuted.gguf")
    ids = held_out_ids(AutoTokenizer.from_pretrained(checkpoint))[:100]
    assert np.abs(next_token_logits(path, ids, N_CTX) - torch_logits(checkpoint, ids)).max() > 1e-2


def test_metadata(checkpoint, f32_gguf):
    reader = gguf.GGUFReader(f32_gguf)
    assert field_value(reader, "llama.rope.freq_base") == pytest.approx(500.0)
    assert field_value(reader, "llama.attention.head_count_kv") == 2
    assert field_value(reader, "llama.feed_forward_length") == 384
    assert field_value(reader, "llama.context_length") == 256
    assert field_value(reader, "general.file_type") == gguf.LlamaFileType.ALL_F32
    assert field_value(reader, "tokenizer.ggml.model") == "llama"
    assert field_value(reader, "tokenizer.ggml.add_bos_token") is True
    assert field_value(reader, "tokenizer.chat_template") == SOLAR_CHAT_TEMPLATE
    tokens = field_value(reader, "tokenizer.ggml.tokens")
    types = field_value(reader, "tokenizer.ggml.token_type")
    assert len(tokens) == VOCAB_SIZE and tokens[-1] == f"[PAD{VOCAB_SIZE - 1}]"
    assert types.count(gguf.TokenType.BYTE) == 256 and tokens[types.index(gguf.TokenType.BYTE)] == "<0x00>"
    assert (tokens[1], types[1]) == ("<s>", gguf.TokenType.CONTROL)


def test_f16_export_halves_matrices_and_keeps_norms(checkpoint, f32_gguf, tmp_path):
    path = export_gguf(checkpoint, tmp_path / "tiny.f16.gguf", outtype="f16")
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}
    assert types["blk.0.attn_q.weight"] == "F16" and types["blk.0.attn_norm.weight"] == "F32"
    assert path.stat().st_size < 0.55 * f32_gguf.stat().st_size
    ids = held_out_ids(AutoTokenizer.from_pretrained(checkpoint))[:100]
    assert np.abs(next_token_logits(path, ids, N_CTX) - torch_logits(checkpoint, ids)).max() < 5e-2


def test_rope_theta_from_either_config_layout():
    assert rope_theta({"rope_parameters": {"rope_type": "default", "rope_theta": 1e6}}) == 1e6
    assert rope_theta({"rope_theta": 5e5}) == 5e5
    with pytest.raises(ValueError, match="scales RoPE"):
        rope_theta({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}})


def test_tokenizer_without_byte_fallback_is_refused(checkpoint, tmp_path):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences(500, seed=1)), model_writer=model, vocab_size=60,
        model_type="bpe", byte_fallback=False, minloglevel=2,
    )
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((checkpoint / name).read_bytes())
    (tmp_path / "tokenizer.model").write_bytes(model.getvalue())
    with pytest.raises(ValueError, match="byte_fallback=True"):
        export_gguf(tmp_path, tmp_path / "out.gguf")
    assert not list(tmp_path.glob("out.gguf*"))


def test_failed_export_leaves_no_file(checkpoint, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(gguf_export, "converted", broken)
    with pytest.raises(RuntimeError):
        export_gguf(checkpoint, tmp_path / "out.gguf")
    assert not list(tmp_path.iterdir())


def test_bad_outtype_and_foreign_model_are_refused(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="outtype"):
        export_gguf(checkpoint, tmp_path / "x.gguf", outtype="q4")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="not llama or mistral"):
        export_gguf(tmp_path, tmp_path / "x.gguf")
