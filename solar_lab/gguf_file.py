"""A GGUF file: checked, then opened with llama.cpp, then run for its logits.

llama.cpp reads a file's tensors straight from disk; a cut-off download or a file that
is not GGUF at all can take the whole Python process down with it. ``check_gguf`` reads
the header with gguf-py first and turns every problem into a one-line ``ValueError``;
``load_model`` opens a file only after that check, and ``next_token_logits`` is llama.cpp's
answer for a list of token ids, the number every comparison with PyTorch or between
quantizations starts from.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import gguf
import llama_cpp
import numpy as np

MAGIC = b"GGUF"


@dataclass(frozen=True)
class GGUFSummary:
    """What a GGUF header says, and how long the file is against how long it must be."""

    path: Path
    version: int
    tensor_count: int
    kv_count: int
    architecture: str
    context_length: int | None
    """Tokens the model was trained on (``<arch>.context_length``), when the file says."""
    file_size: int
    data_end: int
    """Byte offset where the last tensor's data ends: the file must be at least this long."""


def field_value(reader: gguf.GGUFReader, key: str) -> object:
    """A metadata value (numbers and strings), or None when the key is absent."""
    field = reader.get_field(key)
    return None if field is None else field.contents()


def check_gguf(path: str | Path) -> GGUFSummary:
    """Read ``path``'s GGUF header and tensor table; ``ValueError`` if it is missing, foreign or cut off."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist (or is not a file)")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != MAGIC:
        raise ValueError(f"{path} is not a GGUF file (it starts with {magic!r}, not {MAGIC!r})")
    file_size = path.stat().st_size
    try:
        reader = gguf.GGUFReader(path)
        tensors = reader.tensors
        data_end = max((t.data_offset + t.n_bytes for t in tensors), default=0)
        architecture = str(field_value(reader, "general.architecture"))
        context_length = field_value(reader, f"{architecture}.context_length")
        summary = GGUFSummary(
            path=path,
            version=int(field_value(reader, "GGUF.version")),
            tensor_count=len(tensors),
            kv_count=int(field_value(reader, "GGUF.kv_count")),
            architecture=architecture,
            context_length=None if context_length is None else int(context_length),
            file_size=file_size,
            data_end=int(data_end),
        )
    except Exception as error:
        raise ValueError(
            f"{path} is a damaged or cut-off GGUF file ({type(error).__name__}: {error}); "
            "download or export it again"
        ) from None
    if summary.data_end > file_size:
        raise ValueError(
            f"{path} is cut off: its tensors need {summary.data_end:,} bytes but the file has "
            f"{file_size:,}; download or export it again"
        )
    return summary


@contextmanager
def load_model(
    model_path: str | Path,
    n_ctx: int = 512,
    n_threads: int | None = None,
    n_gpu_layers: int = 0,
    **options: object,
) -> Iterator[llama_cpp.Llama]:
    """Open a GGUF model as the article does, after checking its header; closed on exit.

    ``n_ctx`` is capped at the context the model was trained on (a longer one only warns).

    ``n_threads=None`` takes half the cores, for reading the prompt too (llama-cpp-python
    would read it with all of them); threads beyond the free cores make llama.cpp's
    threads wait on each other, many times slower on a busy machine. ``n_gpu_layers``
    layers go to the GPU (-1 or a large number: all of them) when llama-cpp-python was
    built with CUDA; ``options`` go to ``llama_cpp.Llama`` as they are.
    """
    trained = check_gguf(model_path).context_length
    threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
    options.setdefault("n_threads_batch", threads)
    llm = llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=min(n_ctx, trained or n_ctx),
        n_threads=threads,
        n_gpu_layers=n_gpu_layers,
        verbose=False,
        **options,
    )
    try:
        yield llm
    finally:
        llm.close()


def next_token_logits(
    model_path: str | Path, tokens: list[int], n_ctx: int, f32_cache: bool = True, n_threads: int | None = None
) -> np.ndarray:
    """llama.cpp's logits after each token of ``tokens``, in windows of ``n_ctx`` tokens.

    Each window starts fresh, so the result has one row per token of every window. The
    KV cache is kept in F32 so that only the weights differ between files; ``f32_cache=False``
    keeps llama.cpp's default F16 cache, which moves the logits a little by itself.
    """
    cache = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} if f32_cache else {}
    rows = []
    with load_model(model_path, n_ctx=n_ctx, n_threads=n_threads, logits_all=True, **cache) as llm:
        for start in range(0, len(tokens), n_ctx):
            window = tokens[start : start + n_ctx]
            llm.reset()
            llm.eval(window)
            rows.append(np.array(llm.scores[: len(window)], dtype=np.float32))
    return np.concatenate(rows)
