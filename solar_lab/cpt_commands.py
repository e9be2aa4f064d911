"""The scaling-out commands: ``cpt`` (continued pretraining on FSDP) and ``memory-plan``.

``cpt`` needs torch.distributed and 🤗 datasets (the ``[train]`` extra), so it imports
``solar_lab.cpt`` only when it runs; ``memory-plan`` is arithmetic on a config.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from solar_lab.architecture import PUBLISHED_CONFIGS, DecoderShape, load_config_dict
from solar_lab.checkpoint import read_config
from solar_lab.checkpoint_upscale import DEFAULT_MAX_SHARD_BYTES, shard_size
from solar_lab.gguf_commands import positive_int
from solar_lab.memory_plan import USABLE_SHARE, fewest_gpus, gpu_hours, plan_table


MINIMUM_TORCH = (2, 9)
"""DCP's safetensors writer saves each process's shards from 2.9 on."""


def run_cpt(args: argparse.Namespace) -> int:
    import torch

    if tuple(int(part) for part in torch.__version__.split(".")[:2]) < MINIMUM_TORCH:
        minimum = ".".join(map(str, MINIMUM_TORCH))
        raise ValueError(f"cpt needs torch {minimum} or later; this is torch {torch.__version__}")
    from solar_lab.cpt import main

    return main(args)


def shape_of(config: str) -> tuple[str, DecoderShape]:
    """A shipped config's name, or a checkpoint folder: its display name and shape."""
    if config in PUBLISHED_CONFIGS:
        return PUBLISHED_CONFIGS[config], DecoderShape.from_config(load_config_dict(config))
    return Path(config).name, read_config(Path(config), DecoderShape.from_config)[1]


def run_memory_plan(args: argparse.Namespace) -> int:
    name, shape = shape_of(args.config)
    recipe = {"seq_len": args.seq_len, "micro_batch": args.micro_batch, "compute_bytes": 4 if args.fp32 else 2}
    print(f"{name}: {shape.total_parameters():,} parameters; {args.micro_batch} sequence(s) of {args.seq_len} tokens "
          f"per GPU, {'fp32' if args.fp32 else 'bf16'} compute, GiB per GPU "
          f"({USABLE_SHARE:.0%} of {args.gpu_gib:g} GiB usable, ✗: does not fit)")
    print(plan_table(shape, args.gpu_gib, args.gpus, **recipe))
    for flag, label in ((True, "with"), (False, "without")):
        fit = fewest_gpus(shape, args.gpu_gib, checkpointing=flag, **recipe)
        fit_text = fit or "none (reduce the micro-batch)"
        print(f"fewest {args.gpu_gib:g} GiB GPUs {label} activation checkpointing: {fit_text}")
    hours = gpu_hours(shape, 1e9, args.seq_len)
    print(f"each billion tokens of training: {hours:,.0f} GPU-hours at 40% of an H100's bf16 peak "
          f"(e.g. {hours / 8:,.1f} hours on 8 GPUs)")
    return 0


def gpu_counts(text: str) -> list[int]:
    """``--gpus``: comma-separated GPU counts, e.g. 1,2,4,8."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of GPU counts such as 1,2,4,8")
    return counts


def register(subparsers: argparse._SubParsersAction) -> None:
    cpt = subparsers.add_parser(
        "cpt",
        help="continue pretraining a Llama/Mistral checkpoint with FSDP2 (torchrun; needs solar-lab[train])",
        description="Continue pretraining a Hugging Face Llama/Mistral checkpoint on a text stream with PyTorch "
        "FSDP2. One process as is; several with `torchrun --nproc-per-node N -m solar_lab.cli cpt ...`.",
    )
    cpt.add_argument("model", metavar="MODEL_DIR", help="checkpoint folder: config.json, safetensors, tokenizer")
    cpt.add_argument("data", metavar="DATA", help=".txt (a document a line), .jsonl or .parquet file, "
                     "a folder of them, or a 🤗 dataset name (streamed)")
    cpt.add_argument("out", metavar="OUT_DIR", help="folder for checkpoints/ and the final model/")
    cpt.add_argument("--steps", type=positive_int, required=True, help="optimizer steps")
    cpt.add_argument("--seq-len", type=positive_int, required=True, help="tokens per block (up to the context)")
    cpt.add_argument("--batch-size", type=positive_int, default=1, help="blocks per process and micro-step (default 1)")
    cpt.add_argument("--grad-accum", type=positive_int, default=1, help="micro-steps per optimizer step (default 1)")
    cpt.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default 1e-4)")
    cpt.add_argument("--warmup", type=int, default=0, help="steps of linear warm-up (default 0)")
    cpt.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                     help="learning rate after warm-up (default cosine)")
    cpt.add_argument("--weight-decay", type=float, default=0.1, help="AdamW decay of matrices (default 0.1)")
    cpt.add_argument("--precision", choices=("bf16", "fp32"), default=None,
                     help="default: bf16 on GPUs that compute in it (A100, H100), else fp32")
    cpt.add_argument("--activation-checkpointing", action="store_true", help="recompute layers in the backward pass")
    cpt.add_argument("--text-field", default="text", help="the field holding the text (default text)")
    cpt.add_argument("--split", default="train", help="split of a 🤗 dataset (default train)")
    cpt.add_argument("--data-config", default=None, help="configuration of a 🤗 dataset")
    cpt.add_argument("--seed", type=int, default=0, help="random seed (process r uses seed + r)")
    cpt.add_argument("--save-every", type=positive_int, default=100, help="steps between checkpoints (default 100)")
    cpt.add_argument("--log-every", type=positive_int, default=10, help="steps between progress lines (default 10)")
    cpt.add_argument("--resume", action="store_true", help="continue from OUT_DIR's last complete checkpoint, if any")
    cpt.add_argument("--max-shard-size", type=shard_size, default=DEFAULT_MAX_SHARD_BYTES, metavar="SIZE",
                     help="largest safetensors file of the exported model (default 5GB)")
    cpt.set_defaults(func=run_cpt)

    plan = subparsers.add_parser(
        "memory-plan", help="GPU memory per GPU for FSDP training of a config, and the fewest GPUs that fit"
    )
    plan.add_argument("config", help=f"a shipped config ({', '.join(PUBLISHED_CONFIGS)}) or a checkpoint folder")
    plan.add_argument("--gpu-gib", type=float, default=80, help="memory of one GPU in GiB (default 80)")
    plan.add_argument("--gpus", type=gpu_counts, default=[1, 2, 4, 8, 16], help="GPU counts (default 1,2,4,8,16)")
    plan.add_argument("--seq-len", type=positive_int, default=4096, help="tokens per sequence (default 4096)")
    plan.add_argument("--micro-batch", type=positive_int, default=1, help="sequences a GPU and micro-step (default 1)")
    plan.add_argument("--fp32", action="store_true", help="compute in fp32 instead of bf16 mixed precision")
    plan.set_defaults(func=run_memory_plan)
