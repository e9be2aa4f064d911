"""Depth up-scaling of a checkpoint on disk, one tensor at a time.

A safetensors file is an 8-byte header length, a JSON header (each tensor's dtype, shape
and byte range) and the raw tensor bytes. Up-scaling renames and repeats tensors but never
changes their bytes, so the up-scaled checkpoint is built by copying byte ranges from the
source files into new ones: memory stays at one small copy buffer, whatever the model size.

    solar-lab upscale SRC_DIR OUT_DIR --drop 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import safetensors
from tqdm.auto import tqdm
from transformers.utils.hub import convert_file_size_to_int

from solar_lab.dus import LAYER_NAME, DusPlan, mergekit_yaml, plan_for, upscaled_config, upscaled_names

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
DEFAULT_MAX_SHARD_BYTES = 5 * 10**9
"""5 GB per output shard, the Hugging Face Hub's long-standing convention (mergekit's too)."""

COPY_BUFFER_BYTES = 16 * 2**20
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx")
NOT_COPIED = ("config.json", "README.md")
"""Rewritten (config.json) or describing the source model only (its model card)."""

MERGEKIT_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


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


def planned_outputs(tensors: dict[str, StoredTensor], plan: DusPlan) -> list[tuple[str, StoredTensor]]:
    """(new name, source bytes) of every up-scaled tensor: non-layer ones first, then layer by layer."""
    outputs = [(new, tensor) for name, tensor in tensors.items() for new in upscaled_names(name, plan)]

    def order(item: tuple[str, StoredTensor]) -> tuple[int, str]:
        match = LAYER_NAME.match(item[0])
        return (-1 if match is None else int(match["index"]), item[0])

    return sorted(outputs, key=order)


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


def copy_range(
    source: BinaryIO, start: int, nbytes: int, target: BinaryIO, buffer: memoryview, bar: tqdm
) -> None:
    """Copy ``nbytes`` from ``source`` at ``start`` to the end of ``target``, one buffer at a time."""
    source.seek(start)
    while nbytes:
        chunk = buffer[: min(nbytes, len(buffer))]
        if source.readinto(chunk) != len(chunk):
            raise ValueError(f"{source.name} ended early; was it changed while being read?")
        target.write(chunk)
        nbytes -= len(chunk)
        bar.update(len(chunk))


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
    buffer = memoryview(bytearray(COPY_BUFFER_BYTES))
    sources: dict[Path, BinaryIO] = {}
    try:
        with path.open("wb") as target:
            target.write(struct.pack("<Q", len(encoded)) + encoded)
            for _, tensor in items:
                source = sources.get(tensor.file) or sources.setdefault(tensor.file, tensor.file.open("rb"))
                copy_range(source, tensor.start, tensor.nbytes, target, buffer, bar)
    finally:
        for source in sources.values():
            source.close()


def copy_side_files(src: Path, out: Path) -> None:
    """Copy tokenizer, generation config, licence and other non-weight files of ``src``."""
    for path in sorted(src.iterdir()):
        name = path.name
        skip = (
            name in NOT_COPIED or name.startswith(".") or name.endswith((".index.json", *WEIGHT_SUFFIXES))
        )
        if path.is_file() and not skip:
            shutil.copy2(path, out / name)


def write_checkpoint(
    out: Path, config: dict, outputs: list[tuple[str, StoredTensor]], max_shard_bytes: int, progress: bool
) -> None:
    """Write the up-scaled weights (sharded with an index when needed) and config.json into ``out``."""
    shards = split_into_shards(outputs, max_shard_bytes)
    names = shard_names(len(shards))
    total = sum(tensor.nbytes for _, tensor in outputs)
    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="upscale", disable=not progress
    ) as bar:
        for name, items in zip(names, shards, strict=True):
            write_shard(out / name, items, bar)
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": total},
            "weight_map": {
                tensor_name: name
                for name, items in zip(names, shards, strict=True)
                for tensor_name, _ in items
            },
        }
        (out / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def checked_paths(src: Path, out: Path, force: bool) -> None:
    """Refuse a missing source, or an output that exists (without ``force``) or would swallow the source."""
    if not src.is_dir():
        raise ValueError(f"{src} is not a directory; SRC_DIR must be a Hugging Face checkpoint folder")
    if out.exists() or out.is_symlink():
        if not force:
            raise FileExistsError(
                f"{out} already exists; choose another OUT_DIR or pass --force to replace it"
            )
        if not out.is_dir():
            raise FileExistsError(
                f"{out} exists and is not a directory; remove it or choose another OUT_DIR"
            )
        if src.resolve().is_relative_to(out.resolve()):
            raise ValueError(f"OUT_DIR {out} holds SRC_DIR {src}; replacing it would delete the source")


def load_plan(src: Path, m: int) -> tuple[dict, DusPlan, dict[str, StoredTensor]]:
    """Read and check everything up front: config, plan, every shard, every layer."""
    if not (src / "config.json").is_file():
        raise ValueError(f"{src} has no config.json; SRC_DIR must be a Hugging Face checkpoint folder")
    config = read_json(src / "config.json")
    plan = plan_for(config, m)
    tensors = read_tensors(src)
    check_layers(tensors, plan.n_layers)
    return config, plan, tensors


def publish(tmp: Path, out: Path, force: bool) -> None:
    """Rename the finished ``tmp`` to ``out``; an old ``out`` (``force``) is removed only once replaced."""
    if not out.exists():
        tmp.rename(out)
        return
    if not force:
        raise FileExistsError(f"{out} appeared while writing; pass --force to replace it")
    old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
    out.rename(old / out.name)
    try:
        tmp.rename(out)
    except OSError:
        (old / out.name).rename(out)
        raise
    finally:
        shutil.rmtree(old)


def upscale_checkpoint(
    src: str | Path,
    out: str | Path,
    m: int,
    *,
    force: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: bool = True,
) -> Path:
    """Depth-up-scale the safetensors checkpoint in ``src`` into ``out``, dropping ``m`` layers per copy.

    Nothing is written until every input is checked, and ``out`` appears only complete: the
    work happens in a temporary sibling folder that is renamed at the end (or removed on error).
    """
    src, out = Path(src), Path(out)
    checked_paths(src, out, force)
    if max_shard_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
    config, plan, tensors = load_plan(src, m)
    outputs = planned_outputs(tensors, plan)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o755)
        write_checkpoint(tmp, upscaled_config(config, m), outputs, max_shard_bytes, progress)
        copy_side_files(src, tmp)
        publish(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def mergekit_dtype(tensors: dict[str, StoredTensor]) -> str:
    """The dtype holding most of the checkpoint's bytes, as mergekit spells it."""
    sizes: dict[str, int] = {}
    for tensor in tensors.values():
        sizes[tensor.dtype] = sizes.get(tensor.dtype, 0) + tensor.nbytes
    dtype = max(sizes, key=sizes.__getitem__)
    if dtype not in MERGEKIT_DTYPES:
        raise ValueError(
            f"the checkpoint is stored as {dtype}; mergekit configs here cover {sorted(MERGEKIT_DTYPES)}"
        )
    return MERGEKIT_DTYPES[dtype]


def shard_size(text: str) -> int:
    """``--max-shard-size``: bytes, or a size such as 500MB, 5GB, 2GiB."""
    try:
        return int(text) if text.isdigit() else convert_file_size_to_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; use bytes or e.g. 500MB, 5GB, 2GiB"
        ) from None


def run(args: argparse.Namespace) -> int:
    src = Path(args.src)
    if args.print_mergekit_config:
        _, plan, tensors = load_plan(src, args.drop)
        print(mergekit_yaml(str(src.resolve()), plan, mergekit_dtype(tensors)), end="")
        return 0
    out = upscale_checkpoint(
        src,
        args.out,
        args.drop,
        force=args.force,
        max_shard_bytes=args.max_shard_size,
        progress=not args.quiet,
    )
    print(out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upscale",
        help="depth-up-scale a safetensors checkpoint to 2·(n-m) layers",
        description="Depth-up-scale a Hugging Face safetensors checkpoint (Llama family) to 2·(n-m) "
        "layers, streaming tensor by tensor; OUT_DIR appears only when complete.",
    )
    parser.add_argument(
        "src", metavar="SRC_DIR", help="checkpoint folder: config.json and safetensors weights"
    )
    parser.add_argument("out", metavar="OUT_DIR", help="folder to create for the up-scaled checkpoint")
    parser.add_argument(
        "--drop", "-m", type=int, required=True, metavar="M", help="layers dropped from each copy"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace OUT_DIR if it exists (once the new one is complete)"
    )
    parser.add_argument(
        "--max-shard-size",
        type=shard_size,
        default=DEFAULT_MAX_SHARD_BYTES,
        metavar="SIZE",
        help="largest output shard, e.g. 500MB or 2GiB (default 5GB)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--print-mergekit-config",
        action="store_true",
        help="print the equivalent mergekit passthrough config and exit without writing",
    )
    parser.set_defaults(func=run)
