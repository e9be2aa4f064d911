"""Read and write Hugging Face safetensors checkpoints, checking everything on the way in.

A checkpoint folder holds ``config.json`` and its weights: one ``model.safetensors``, or
shards listed by ``model.safetensors.index.json``. A safetensors file is an 8-byte header
length, a JSON header (each tensor's dtype, shape and byte range) and the raw tensor bytes.
The reader turns the headers into ``StoredTensor`` records (where each tensor's bytes lie)
without loading any tensor; the writer builds new files by having the kernel copy byte
ranges file to file (through one small buffer where it cannot), so memory stays small
whatever the model size. ``solar-lab upscale`` and ``solar-lab export-gguf`` both read
checkpoints through this module, and no command writes over one of its own inputs
(``temporary_output``).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import safetensors
from tqdm.auto import tqdm

from solar_lab.dus import LAYER_NAME

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
COPY_BUFFER_BYTES = 16 * 2**20
FLOAT_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}
"""Float types ``read_array`` reads, as little-endian numpy types (bfloat16 as its raw 16 bits)."""

Shape = TypeVar("Shape")


@dataclass(frozen=True)
class StoredTensor:
    """Where one tensor's bytes lie in a safetensors file."""

    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    nbytes: int


def read_json(path: Path) -> dict:
    """A JSON object from ``path``, with a one-line error for anything else."""
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} should hold a JSON object, not {type(value).__name__}")
    return value


def read_config(
    checkpoint: Path, shape: Callable[[dict[str, Any]], Shape]
) -> tuple[dict[str, Any], Shape]:
    """A checkpoint folder's ``config.json``, and the model's shape that ``shape`` reads from it.

    ``shape`` is ``DecoderShape.from_config`` (or a subclass's); its errors name the file.
    """
    path = checkpoint / CONFIG_FILE
    if not checkpoint.is_dir():
        raise ValueError(f"{checkpoint} is not a directory; pass a Hugging Face checkpoint folder")
    if not path.is_file():
        raise ValueError(f"{checkpoint} has no {CONFIG_FILE}; pass a Hugging Face checkpoint folder")
    config = read_json(path)
    try:
        return config, shape(config)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def read_header(path: Path) -> dict[str, StoredTensor]:
    """The tensors of one safetensors file, checked by the safetensors library first."""
    try:
        with safetensors.safe_open(path, framework="numpy"):
            pass
    except safetensors.SafetensorError as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}); re-save or re-download it"
        ) from None
    with path.open("rb") as file:
        (header_len,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_len))
    data_start = 8 + header_len
    header.pop("__metadata__", None)
    return {
        name: StoredTensor(
            file=path,
            dtype=entry["dtype"],
            shape=tuple(entry["shape"]),
            start=data_start + entry["data_offsets"][0],
            nbytes=entry["data_offsets"][1] - entry["data_offsets"][0],
        )
        for name, entry in header.items()
    }


def weight_files(src: Path) -> tuple[dict[str, Path], dict[str, str] | None]:
    """The checkpoint's safetensors files by name, and the index's weight map (None for a single file)."""
    if (src / SINGLE_FILE).is_file():
        return {SINGLE_FILE: src / SINGLE_FILE}, None
    if not (src / INDEX_FILE).is_file():
        found = (
            "PyTorch .bin weights; re-save them with safe_serialization"
            if any(src.glob("*.bin"))
            else "neither"
        )
        raise ValueError(f"{src} needs {SINGLE_FILE} or {INDEX_FILE}, found {found}")
    weight_map = read_json(src / INDEX_FILE).get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ValueError(f"{src / INDEX_FILE} has no weight_map of tensor names to shard files")
    files = {}
    for name in sorted(set(weight_map.values())):
        if Path(name).name != name:
            raise ValueError(f"{src / INDEX_FILE} lists shard {name!r}, which is not a file name in {src}")
        if not (src / name).is_file():
            raise ValueError(f"{src / INDEX_FILE} lists shard {name}, which is missing from {src}")
        files[name] = src / name
    return files, weight_map


def read_tensors(src: Path) -> dict[str, StoredTensor]:
    """Every tensor of the checkpoint in ``src``; the index, if any, must agree with its shards."""
    files, weight_map = weight_files(src)
    tensors: dict[str, StoredTensor] = {}
    for file_name, path in files.items():
        for name, tensor in read_header(path).items():
            if weight_map is not None and weight_map.get(name) != file_name:
                raise ValueError(
                    f"{path} holds {name}, but {INDEX_FILE} places it in {weight_map.get(name)}"
                )
            tensors[name] = tensor
    if weight_map is not None and (missing := sorted(set(weight_map) - set(tensors))):
        raise ValueError(
            f"{INDEX_FILE} lists {missing[0]} in {weight_map[missing[0]]}, which does not hold it"
        )
    return tensors


def check_layers(names: Iterable[str], n_layers: int) -> None:
    """Every layer 0..n-1 must hold the same set of tensors, and no other layer may appear."""
    parts: dict[int, set[str]] = {layer: set() for layer in range(n_layers)}
    for name in names:
        match = LAYER_NAME.match(name)
        if match is None:
            continue
        layer = int(match["index"])
        if layer >= n_layers:
            raise ValueError(f"tensor {name} names layer {layer}, but config.json says {n_layers} layers")
        parts[layer].add(match["head"] + "*" + match["tail"])
    every = set().union(*parts.values())
    if not every:
        raise ValueError(
            "no tensor names a layer (like model.layers.0.mlp.up_proj.weight); is this a decoder?"
        )
    for layer, present in parts.items():
        if missing := sorted(every - present):
            raise ValueError(
                f"layer {layer} lacks {len(missing)} tensor(s), e.g. {missing[0].replace('*', str(layer))}"
            )


def ended_early(path: str | Path) -> ValueError:
    """The error for a file shorter than its header says."""
    return ValueError(f"{path} ended early; was it changed while being read?")


def read_array(tensor: StoredTensor) -> np.ndarray:
    """One tensor's values as float32, read from its byte range (F32, F16 or BF16 on disk)."""
    if tensor.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{tensor.file} stores a tensor as {tensor.dtype}; readable: {', '.join(FLOAT_DTYPES)}"
        )
    with tensor.file.open("rb") as file:
        file.seek(tensor.start)
        data = file.read(tensor.nbytes)
    if len(data) != tensor.nbytes:
        raise ended_early(tensor.file)
    values = np.frombuffer(data, dtype=FLOAT_DTYPES[tensor.dtype])
    if tensor.dtype == "BF16":  # bfloat16 is the top half of a float32
        values = (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float32).reshape(tensor.shape)


def temporary_output(out: Path, inputs: list[Path]) -> Path:
    """The temporary file to write before renaming it to ``out``, once both are checked.

    ``out`` must be a file in an existing folder, and neither it nor the temporary file may
    be one of ``inputs`` under any name (the same path, a symlink or a hard link).
    """
    temporary = out.with_name(out.name + ".tmp")
    if not out.parent.is_dir():
        raise ValueError(f"{out.parent} is not a directory; create it or choose another output path")
    if out.is_dir():
        raise ValueError(f"{out} is a directory; give the path of the file to write")
    for target in (out, temporary):
        for source in inputs:
            if target.exists() and source.exists() and os.path.samefile(target, source):
                raise ValueError(
                    f"{target} is the input {source}; writing it would destroy the input, "
                    "choose another output path"
                )
    return temporary


def split_into_shards(
    outputs: list[tuple[str, StoredTensor]], max_bytes: int
) -> list[list[tuple[str, StoredTensor]]]:
    """Consecutive groups of at most ``max_bytes`` each (a larger tensor gets a shard of its own)."""
    shards: list[list[tuple[str, StoredTensor]]] = [[]]
    size = 0
    for item in outputs:
        if shards[-1] and size + item[1].nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(item)
        size += item[1].nbytes
    return shards


def shard_names(count: int) -> list[str]:
    """Hugging Face's file names for ``count`` shards."""
    if count == 1:
        return [SINGLE_FILE]
    return [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def kernel_copies() -> list[Callable[[int, int, int, int], int]]:
    """This platform's kernel-side copies, each ``copy(source_fd, target_fd, count, offset)``.

    Each copies up to ``count`` bytes at ``offset`` in the source to the target's position
    (moving it on) and returns how many it copied: 0 at the source's end.
    """
    copies = []
    if hasattr(os, "copy_file_range"):
        copies.append(lambda src, dst, count, offset: os.copy_file_range(src, dst, count, offset))
    if hasattr(os, "sendfile"):
        copies.append(lambda src, dst, count, offset: os.sendfile(dst, src, offset, count))
    return copies


def kernel_copy(source: BinaryIO, start: int, nbytes: int, target: BinaryIO, bar: tqdm) -> int:
    """Copy what the kernel will of ``nbytes`` at ``start``, file to file; how many bytes it copied.

    Each call may copy fewer bytes than asked; a copy that raises ``OSError`` (another OS, a
    file system that refuses it) hands the rest to the next one.
    """
    done = 0
    for copy in kernel_copies():
        try:
            while done < nbytes:
                count = copy(source.fileno(), target.fileno(), nbytes - done, start + done)
                if count == 0:
                    raise ended_early(source.name)
                done += count
                bar.update(count)
        except OSError:
            continue
        break
    return done


def buffered_copy(source: BinaryIO, start: int, nbytes: int, target: BinaryIO, bar: tqdm) -> None:
    """Copy ``nbytes`` at ``start`` through a buffer of at most ``COPY_BUFFER_BYTES``."""
    buffer = memoryview(bytearray(min(nbytes, COPY_BUFFER_BYTES)))
    source.seek(start)
    while nbytes:
        chunk = buffer[: min(nbytes, len(buffer))]
        if source.readinto(chunk) != len(chunk):
            raise ended_early(source.name)
        target.write(chunk)
        nbytes -= len(chunk)
        bar.update(len(chunk))


def copy_range(source: BinaryIO, start: int, nbytes: int, target: BinaryIO, bar: tqdm) -> None:
    """Copy ``nbytes`` from ``source`` at ``start`` to the end of ``target``.

    The kernel copies them file to file where it can, so they never pass through Python;
    whatever it refuses goes through a buffer.
    """
    target.flush()
    done = kernel_copy(source, start, nbytes, target, bar)
    target.seek(0, os.SEEK_END)
    buffered_copy(source, start + done, nbytes - done, target, bar)


def write_shard(path: Path, items: list[tuple[str, StoredTensor]], bar: tqdm) -> None:
    """Write one safetensors file: header, then each tensor's bytes copied from its source."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, tensor in items:
        header[name] = {
            "dtype": tensor.dtype,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + tensor.nbytes],
        }
        offset += tensor.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    sources: dict[Path, BinaryIO] = {}
    try:
        with path.open("wb") as target:
            target.write(struct.pack("<Q", len(encoded)) + encoded)
            for _, tensor in items:
                source = sources.get(tensor.file) or sources.setdefault(tensor.file, tensor.file.open("rb"))
                copy_range(source, tensor.start, tensor.nbytes, target, bar)
    finally:
        for source in sources.values():
            source.close()


def write_weights(
    out: Path, outputs: list[tuple[str, StoredTensor]], max_shard_bytes: int, bar: tqdm
) -> None:
    """Write ``outputs`` (new name, source bytes) into ``out``: one file, or shards and their index."""
    shards = split_into_shards(outputs, max_shard_bytes)
    names = shard_names(len(shards))
    for name, items in zip(names, shards, strict=True):
        write_shard(out / name, items, bar)
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(tensor.nbytes for _, tensor in outputs)},
            "weight_map": {
                tensor_name: name
                for name, items in zip(names, shards, strict=True)
                for tensor_name, _ in items
            },
        }
        (out / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
