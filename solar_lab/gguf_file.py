"""Check a GGUF file before llama.cpp opens it.

llama.cpp reads a file's tensors straight from disk; a cut-off download or a file that
is not GGUF at all can take the whole Python process down with it. ``check_gguf`` reads
the header with gguf-py first and turns every problem into a one-line ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf

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
