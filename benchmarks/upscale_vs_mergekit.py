"""`solar-lab upscale` against `mergekit-yaml` and a plain `cp` on a synthetic multi-GB Llama checkpoint.

Builds a random bf16 checkpoint (TinyLlama's shape by default: 1.1B parameters, 2.2 GB,
sharded), up-scales it with both tools as fresh subprocesses, copies our output folder with
``cp`` (the same bytes, copied plainly), and prints each one's wall time and peak resident
memory, then checks that both up-scaled outputs agree tensor for tensor.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/upscale_vs_mergekit.py --repeats 3

Linux only (peak memory is ``ru_maxrss`` from ``os.wait4``). Timings on a shared machine are noisy:
run with ``--repeats 3`` and read the minimum. Each run starts after ``sync``, with no earlier
run's writes still pending. Everything is written under ``--workdir`` (a fresh temporary
folder by default) and removed at the end unless ``--keep``. Small sizes (``--hidden 64
--intermediate 128 --layers 4 --heads 4 --kv-heads 2 --vocab 128 --drop 1``) take seconds,
mostly mergekit's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from solar_lab.cli import Parser
from solar_lab.dus import DusPlan, mergekit_yaml

BIN = Path(sys.executable).parent
TOOLS = ("solar-lab upscale", "mergekit-yaml", "mergekit-yaml 1B")
"""Ours, mergekit with its defaults (5 GB shards), mergekit writing 1 GB shards."""
COPY = "cp of our output"
GOALS = {"wall / cp": 1.2, "peak RSS / checkpoint": 0.05}
"""Ours at most 1.2x the time of copying its output, at most 5% of the checkpoint in memory."""
PEAK_RSS = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""
"""Runs a command and prints its exit code and peak RSS in KiB (Linux's ru_maxrss unit)."""


def llama_config(args: argparse.Namespace) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "vocab_size": args.vocab,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "dtype": "bfloat16",
    }


def tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every tensor of a Hugging Face Llama checkpoint, in the order save_pretrained writes them."""
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv_width = hidden // config["num_attention_heads"] * config["num_key_value_heads"]
    shapes = {"model.embed_tokens.weight": (vocab, hidden)}
    for layer in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        shapes |= {
            prefix + "input_layernorm.weight": (hidden,),
            prefix + "self_attn.q_proj.weight": (hidden, hidden),
            prefix + "self_attn.k_proj.weight": (kv_width, hidden),
            prefix + "self_attn.v_proj.weight": (kv_width, hidden),
            prefix + "self_attn.o_proj.weight": (hidden, hidden),
            prefix + "post_attention_layernorm.weight": (hidden,),
            prefix + "mlp.gate_proj.weight": (inter, hidden),
            prefix + "mlp.up_proj.weight": (inter, hidden),
            prefix + "mlp.down_proj.weight": (hidden, inter),
        }
    return shapes | {"model.norm.weight": (hidden,), "lm_head.weight": (vocab, hidden)}


def group_into_shards(shapes: dict[str, tuple[int, ...]], shard_bytes: int) -> list[list[str]]:
    """Consecutive tensor names, at most ``shard_bytes`` of bf16 per group."""
    groups: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        nbytes = 2 * torch.Size(shape).numel()
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += nbytes
    return groups


def build_checkpoint(directory: Path, config: dict, shard_bytes: int) -> int:
    """Write a random bf16 checkpoint, sharded with an index, one shard in memory at a time."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    shapes = tensor_shapes(config)
    groups = group_into_shards(shapes, shard_bytes)
    generator = torch.Generator().manual_seed(0)
    weight_map, total = {}, 0
    for number, group in enumerate(groups, start=1):
        file_name = f"model-{number:05d}-of-{len(groups):05d}.safetensors"
        tensors = {
            name: torch.randn(shapes[name], generator=generator, dtype=torch.bfloat16) for name in group
        }
        save_file(tensors, directory / file_name, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(group, file_name)
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        print(f"  wrote {file_name} ({total / 1e9:.2f} GB so far)", file=sys.stderr)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return total


def measure(command: list[str]) -> tuple[float, float]:
    """Run ``command`` to completion; its wall seconds and peak resident memory in MB.

    A child's peak RSS starts from the memory of the process that forked it, so the command
    is started by a small fresh interpreter (PEAK_RSS), not by this large benchmark process.
    """
    os.sync()
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command], stdout=subprocess.PIPE, text=True, check=True
    )
    seconds = time.perf_counter() - start
    exit_code, peak_kb = map(int, result.stdout.split())
    if exit_code:
        raise SystemExit(f"{command[0]} failed with exit code {exit_code}")
    return seconds, peak_kb / 1024


def tensors_of(directory: Path) -> dict[str, Path]:
    names = {}
    for path in directory.glob("*.safetensors"):
        with safe_open(path, framework="pt") as file:
            names |= dict.fromkeys(file.keys(), path)
    return names


def same_tensors(ours: Path, theirs: Path) -> bool:
    """Names, dtypes and values equal, read one tensor at a time."""
    a, b = tensors_of(ours), tensors_of(theirs)
    if a.keys() != b.keys():
        print(f"  names differ: {sorted(a.keys() ^ b.keys())[:5]}", file=sys.stderr)
        return False
    for name in sorted(a):
        with safe_open(a[name], framework="pt") as x, safe_open(b[name], framework="pt") as y:
            left, right = x.get_tensor(name), y.get_tensor(name)
            if left.dtype != right.dtype or not torch.equal(left, right):
                print(f"  {name} differs", file=sys.stderr)
                return False
    return True


def positive(text: str) -> int:
    """A whole number above zero, for argparse."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=positive, default=2048)
    parser.add_argument("--intermediate", type=positive, default=5632)
    parser.add_argument("--layers", type=positive, default=22)
    parser.add_argument("--heads", type=positive, default=32)
    parser.add_argument("--kv-heads", type=positive, default=4)
    parser.add_argument("--vocab", type=positive, default=32000)
    parser.add_argument("--drop", type=int, default=5, help="m of the up-scaling")
    parser.add_argument(
        "--source-shard-gb", type=float, default=1.0, help="shard size of the synthetic source"
    )
    parser.add_argument(
        "--repeats", type=positive, default=1, help="runs per tool; the minimum is reported"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="a new or empty folder to write in, removed at the end (default: one in the temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the checkpoints on disk")
    args = parser.parse_args(argv)
    if args.hidden % args.heads or args.heads % args.kv_heads:
        parser.error("--heads must divide --hidden, and --kv-heads must divide --heads")
    try:
        DusPlan(args.layers, args.drop)
    except ValueError as error:
        parser.error(str(error))
    if not args.source_shard_gb > 0:
        parser.error("--source-shard-gb must be positive")
    if args.workdir and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty; it is removed at the end, give a new one")
    if not (BIN / "mergekit-yaml").is_file():
        parser.error(f"mergekit-yaml is not installed in {BIN}; pip install mergekit")
    return args


def main() -> None:
    args = parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="upscale-bench-"))
    src = workdir / "source"
    try:
        print(f"building the synthetic checkpoint in {src} ...", file=sys.stderr)
        size = build_checkpoint(src, llama_config(args), int(args.source_shard_gb * 1e9))
        plan = DusPlan(args.layers, args.drop)
        (workdir / "mergekit.yml").write_text(mergekit_yaml(str(src.resolve()), plan, "bfloat16"))
        mergekit = [str(BIN / "mergekit-yaml"), str(workdir / "mergekit.yml")]
        mergekit_options = ["--no-write-model-card", "--no-copy-tokenizer", "--quiet"]
        outputs = {tool: workdir / tool.replace(" ", "_") for tool in (*TOOLS, COPY)}
        ours = outputs[TOOLS[0]]
        commands = {
            TOOLS[0]: [
                str(BIN / "solar-lab"), "upscale", str(src), str(ours), "--drop", str(args.drop), "--quiet"
            ],
            COPY: ["cp", "--recursive", str(ours), str(outputs[COPY])],
            "mergekit-yaml": [*mergekit, str(outputs["mergekit-yaml"]), *mergekit_options],
            "mergekit-yaml 1B": [
                *mergekit,
                str(outputs["mergekit-yaml 1B"]),
                *mergekit_options,
                "--out-shard-size",
                "1B",
            ],
        }
        results: dict[str, list[tuple[float, float]]] = {tool: [] for tool in commands}
        for repeat in range(args.repeats):
            for tool, command in commands.items():
                shutil.rmtree(outputs[tool], ignore_errors=True)
                print(f"run {repeat + 1}/{args.repeats}: {tool} ...", file=sys.stderr)
                results[tool].append(measure(command))
                print(f"  {results[tool][-1][0]:.1f} s, {results[tool][-1][1]:.0f} MB", file=sys.stderr)
        print("comparing the outputs tensor by tensor ...", file=sys.stderr)
        agree = all(same_tensors(ours, outputs[tool]) for tool in TOOLS[1:])
        out_size = sum(p.stat().st_size for p in ours.glob("*.safetensors"))
        report(args, size, out_size, plan, results, agree)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args, size: int, out_size: int, plan: DusPlan, results: dict, agree: bool) -> None:
    print(
        f"\ncheckpoint: {args.layers} layers, hidden {args.hidden}, {size / 1e9:.2f} GB bf16 "
        f"-> m={args.drop}, {plan.depth} layers, {out_size / 1e9:.2f} GB; min of {args.repeats} run(s)"
    )
    print(f"{'tool':<20}{'wall s':>9}{'peak RSS MB':>14}{'RSS/checkpoint':>16}")
    best = {tool: (min(r[0] for r in runs), min(r[1] for r in runs)) for tool, runs in results.items()}
    for tool, (seconds, rss) in best.items():
        print(f"{tool:<20}{seconds:>9.2f}{rss:>14.0f}{rss * 2**20 / size:>16.3f}")
    ours_s, ours_rss = best[TOOLS[0]]
    print(
        f"ours / {COPY}: wall {ours_s / best[COPY][0]:.2f}x (goal <= {GOALS['wall / cp']}x); "
        f"ours / checkpoint: peak RSS {ours_rss * 2**20 / size:.3f}x "
        f"(goal <= {GOALS['peak RSS / checkpoint']}x)"
    )
    for tool in TOOLS[1:]:
        print(
            f"ours / {tool}: wall {ours_s / best[tool][0]:.2f}x, peak RSS {ours_rss / best[tool][1]:.2f}x"
        )
    print(f"all outputs agree tensor for tensor: {agree}")
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
