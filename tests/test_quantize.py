"""Quantizing with llama.cpp: types, fallbacks, sizes, and quality against F32 and PyTorch."""

from __future__ import annotations

import llama_cpp
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from _gguf_fixtures import held_out_ids, make_checkpoint
from solar_lab.gguf_export import export_gguf
from solar_lab.gguf_file import next_token_logits
from solar_lab.quantize import (
    QUANT_TYPES, bits_per_weight, compare_quants, fallbacks, perplexity, quantize, tensor_types, top1_agreement,
)

N_CTX = 128


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=2)
    path = export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    return checkpoint, path, held_out_ids(AutoTokenizer.from_pretrained(checkpoint))[: 2 * N_CTX]


def test_ftype_ids_are_llama_cpps():
    assert QUANT_TYPES == {"Q8_0": 7, "Q6_K": 18, "Q5_K_M": 17, "Q4_K_M": 15, "Q3_K_M": 12, "Q2_K": 10}
    assert QUANT_TYPES["Q4_K_M"] == llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M


def test_k_quant_falls_back_where_rows_are_not_multiples_of_256(model, tmp_path):
    _, path, _ = model
    out = quantize(path, tmp_path / "tiny.Q4_K_M.gguf", "Q4_K_M")
    tensors = tensor_types(out)
    fell_back = fallbacks(tensors, "Q4_K_M")
    assert set(fell_back) == {"blk.0.ffn_down.weight", "blk.1.ffn_down.weight"}  # rows of 384
    assert set(fell_back.values()) <= {"Q5_0", "Q8_0"}
    by_name = {t.name: t for t in tensors}
    assert by_name["blk.0.attn_q.weight"].type == "Q4_K" and by_name["output_norm.weight"].type == "F32"
    assert 4.5 < bits_per_weight(tensors) < 8 and out.stat().st_size < path.stat().st_size / 4
    assert not list(tmp_path.glob("*.tmp"))


def test_perplexity_matches_pytorch(model):
    checkpoint, path, ids = model
    logits = next_token_logits(path, ids, N_CTX)
    assert logits.shape == (len(ids), 336)
    network = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    losses = []
    for start in range(0, len(ids), N_CTX):
        window = torch.tensor([ids[start : start + N_CTX]])
        with torch.no_grad():
            losses.append(network(window, labels=window).loss)
    assert perplexity(logits, ids, N_CTX) == pytest.approx(float(torch.stack(losses).mean().exp()), rel=1e-4)


def test_top1_agreement_counts_matching_argmax():
    reference = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    other = np.array([[0.0, 5.0], [0.0, 1.0], [0.0, 1.0], [9.0, 0.0]])
    assert top1_agreement(other, reference) == 0.75


def test_fewer_bits_cost_agreement(model, tmp_path):
    _, path, ids = model
    reports = {r.quant: r for r in compare_quants(path, tmp_path, ids, N_CTX, quants=("Q8_0", "Q2_K"))}
    assert reports["F32"].top1_agreement == 1.0 and reports["F32"].bits_per_weight == 32.0
    assert reports["Q8_0"].top1_agreement > reports["Q2_K"].top1_agreement
    assert reports["Q8_0"].file_size > reports["Q2_K"].file_size
    assert reports["Q8_0"].fallbacks == {}


def test_bad_requests(model, tmp_path):
    _, path, _ = model
    with pytest.raises(ValueError, match="unknown quantization type"):
        quantize(path, tmp_path / "x.gguf", "Q4_K_Z")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="not a GGUF file"):
        quantize(tmp_path / "notes.txt", tmp_path / "x.gguf", "Q8_0")
    assert not (tmp_path / "x.gguf").exists()
