"""Quantize a GGUF file with llama.cpp, and measure what each quantization type costs.

``quantize`` calls llama.cpp's own quantizer through llama-cpp-python (no extra binary).
``tensor_types`` reads back which type every tensor got: K-quants pack rows in blocks of
256 weights, so a tensor whose rows are not a multiple of 256 falls back to an older
type. ``perplexity`` and ``top1_agreement`` compare a quantized model with the F32 one
on held-out tokens, from the logits llama.cpp gives (``gguf_file.next_token_logits``).
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import gguf
import llama_cpp
import numpy as np

from solar_lab.checkpoint import temporary_output
from solar_lab.gguf_file import check_gguf, next_token_logits

QUANT_TYPES = {
    name: getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}")
    for name in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
}
"""The quantization types the workbook compares, with llama.cpp's file-type ids."""
K_QUANTS = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"}


def quantize(in_path: str | Path, out_path: str | Path, quant: str, threads: int | None = None) -> Path:
    """Write ``in_path`` (an F32 or F16 GGUF) quantized to ``quant`` at ``out_path`` (atomically).

    ``out_path`` may not be ``in_path`` under any name (a symlink or hard link included).
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if quant not in QUANT_TYPES:
        raise ValueError(f"unknown quantization type {quant!r}; choose one of {', '.join(QUANT_TYPES)}")
    check_gguf(in_path)
    temporary = temporary_output(out_path, [in_path])
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[quant]
    params.nthread = threads or os.cpu_count() or 1
    log = logging.getLogger("llama-cpp-python")  # where llama-cpp-python sends llama.cpp's log lines
    level = log.level
    log.setLevel(logging.ERROR)  # the per-tensor progress is noise; fallbacks are read back instead
    try:
        status = llama_cpp.llama_model_quantize(
            str(in_path).encode(), str(temporary).encode(), ctypes.byref(params)
        )
    finally:
        log.setLevel(level)
    if status != 0:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"llama.cpp could not quantize {in_path} to {quant} (status {status})")
    os.replace(temporary, out_path)
    return out_path


@dataclass(frozen=True)
class TensorType:
    """One tensor of a GGUF file: its name, shape (rows of ``shape[0]`` weights) and stored type."""

    name: str
    shape: tuple[int, ...]
    type: str
    n_bytes: int

    @property
    def n_weights(self) -> int:
        return int(np.prod(self.shape))


def tensor_types(path: str | Path) -> list[TensorType]:
    """Every tensor's stored type, read back from the file's tensor table."""
    check_gguf(path)
    reader = gguf.GGUFReader(path)
    return [
        TensorType(t.name, tuple(int(n) for n in t.shape), t.tensor_type.name, int(t.n_bytes))
        for t in reader.tensors
    ]


def intended_types(quant: str) -> set[str]:
    """Types llama.cpp uses for matrices under ``quant`` when nothing forces a fallback."""
    return {"Q8_0"} if quant == "Q8_0" else K_QUANTS


def fallbacks(tensors: list[TensorType], quant: str) -> dict[str, str]:
    """Matrices that were stored in a type outside ``quant``'s family: name -> type they got."""
    family = intended_types(quant)
    return {t.name: t.type for t in tensors if len(t.shape) == 2 and t.type not in family}


def bits_per_weight(tensors: list[TensorType]) -> float:
    """Stored bits per weight over all tensors (norms and embeddings included)."""
    return 8 * sum(t.n_bytes for t in tensors) / sum(t.n_weights for t in tensors)


def perplexity(logits: np.ndarray, tokens: list[int], n_ctx: int) -> float:
    """exp(mean negative log-likelihood) of each token given the ones before it in its window."""
    nll = []
    for start in range(0, len(tokens), n_ctx):
        window = np.asarray(tokens[start : start + n_ctx])
        scores = logits[start : start + len(window) - 1].astype(np.float64)
        log_probs = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
        nll.extend(-log_probs[np.arange(len(window) - 1), window[1:]])
    return float(np.exp(np.mean(nll)))


def top1_agreement(logits: np.ndarray, reference: np.ndarray) -> float:
    """Share of positions where both models rank the same next token first."""
    return float(np.mean(logits.argmax(axis=1) == reference.argmax(axis=1)))


@dataclass(frozen=True)
class QuantReport:
    """What one quantization type does to one model."""

    quant: str
    file_size: int
    bits_per_weight: float
    perplexity: float
    top1_agreement: float
    fallbacks: dict[str, str]


def compare_quants(
    f32_path: str | Path,
    out_dir: str | Path,
    tokens: list[int],
    n_ctx: int,
    quants: tuple[str, ...] = tuple(QUANT_TYPES),
) -> list[QuantReport]:
    """Quantize ``f32_path`` to each type in ``out_dir`` and measure it on held-out ``tokens``.

    The first report is the F32 file itself (agreement 1 by definition).
    """
    f32_path, out_dir = Path(f32_path), Path(out_dir)
    reference = next_token_logits(f32_path, tokens, n_ctx)
    files = [("F32", f32_path)] + [(q, out_dir / f"{f32_path.stem}.{q}.gguf") for q in quants]
    reports = []
    for quant, path in files:
        if quant != "F32":
            quantize(f32_path, path, quant)
        tensors = tensor_types(path)
        logits = reference if quant == "F32" else next_token_logits(path, tokens, n_ctx)
        reports.append(
            QuantReport(
                quant=quant,
                file_size=check_gguf(path).file_size,
                bits_per_weight=bits_per_weight(tensors),
                perplexity=perplexity(logits, tokens, n_ctx),
                top1_agreement=top1_agreement(logits, reference),
                fallbacks={} if quant == "F32" else fallbacks(tensors, quant),
            )
        )
    return reports
