"""Depth up-scaling of a checkpoint on disk, one tensor at a time.

Up-scaling renames and repeats tensors but never changes their bytes, so the up-scaled
checkpoint is built by copying byte ranges from the source safetensors files into new ones,
file to file inside the kernel where it can (``solar_lab.checkpoint``): memory stays small
and the time close to a plain copy of the output, whatever the model size.

    solar-lab upscale SRC_DIR OUT_DIR --drop 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from solar_lab.architecture import DecoderShape
from solar_lab.checkpoint import (
    CONFIG_FILE,
    StoredTensor,
    check_layers,
    read_config,
    read_tensors,
    write_weights,
)
from solar_lab.dus import LAYER_NAME, DusPlan, mergekit_yaml, upscaled_config, upscaled_names

DEFAULT_MAX_SHARD_BYTES = 5 * 10**9
"""5 GB per output shard, the Hugging Face Hub's long-standing convention (mergekit's too)."""

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx")
NOT_COPIED = (CONFIG_FILE, "README.md")
"""Rewritten (config.json) or describing the source model only (its model card)."""

MERGEKIT_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


def planned_outputs(tensors: dict[str, StoredTensor], plan: DusPlan) -> list[tuple[str, StoredTensor]]:
    """(new name, source bytes) of every up-scaled tensor: non-layer ones first, then layer by layer."""
    outputs = [(new, tensor) for name, tensor in tensors.items() for new in upscaled_names(name, plan)]

    def order(item: tuple[str, StoredTensor]) -> tuple[int, str]:
        match = LAYER_NAME.match(item[0])
        return (-1 if match is None else int(match["index"]), item[0])

    return sorted(outputs, key=order)


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
    total = sum(tensor.nbytes for _, tensor in outputs)
    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="upscale", disable=not progress
    ) as bar:
        write_weights(out, outputs, max_shard_bytes, bar)
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def checked_paths(src: Path, out: Path, force: bool) -> None:
    """Refuse a missing source, or an output inside it, existing (without ``force``) or holding it."""
    if not src.is_dir():
        raise ValueError(f"{src} is not a directory; SRC_DIR must be a Hugging Face checkpoint folder")
    if out.resolve().is_relative_to(src.resolve()):
        raise ValueError(
            f"OUT_DIR {out} lies inside SRC_DIR {src}; choose a folder outside the source checkpoint"
        )
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
    config, shape = read_config(src, DecoderShape.from_config)
    plan = DusPlan(shape.num_hidden_layers, m)
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
    from transformers.utils.hub import convert_file_size_to_int  # the Hub's own units; loads only here

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
