"""Training tokens/s of `solar-lab cpt`: 1 CPU process against 2; on a GPU, peak memory against the memory plan.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/cpt_tokens_per_second.py --steps 20

CPU: the shipped toy base trains on its own corpus with the same global batch (4 blocks of
128 tokens) as one process with one thread, as one process with a thread per core, and as
two processes under torchrun over gloo with one thread each (torchrun's default). Tokens/s
counts every step but the first (``cpt`` writes it into each checkpoint's progress.json).
On a machine other jobs keep busy, threads of one process wait for each other and the
one-process-many-threads row suffers most.

GPU, when torch sees one: one process in bf16 on the toy (the same batch) and on a wider
random Llama that fits (``--wide-hidden`` 2048, 16 layers, vocabulary 32000: 0.85B
parameters; 4 sequences of 2048 tokens a step), each with and without activation
checkpointing, with the peak of allocated GPU memory against ``memory_plan``'s prediction.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from solar_lab import cpt_checkpoint, toy
from solar_lab.architecture import DecoderShape
from solar_lab.memory_plan import GIB
from solar_lab.recipe import RECIPE
from solar_lab.tokenizer import TOKENIZER_FILES

CPU_ONLY = {"CUDA_VISIBLE_DEVICES": ""}


def corpus_file(folder: Path) -> Path:
    """The toy corpus's training documents as a .txt file, one a line."""
    path = folder / "toy_corpus.txt"
    path.write_text("".join(document + "\n" for document in toy.corpus().train))
    return path


def wide_model(folder: Path, hidden: int, layers: int) -> Path:
    """A random bf16 Llama of width ``hidden`` (Mistral's proportions) with the toy's tokenizer beside it."""
    config = LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=hidden * 11 // 4, num_hidden_layers=layers,
                         num_attention_heads=hidden // 64, num_key_value_heads=hidden // 256, max_position_embeddings=2048,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy2(toy.checkpoint_path() / name, folder / name)
    return folder


def run_cpt(model: Path, data: Path, out: Path, processes: int, args: list[str], env: dict[str, str]) -> dict:
    """Run ``solar-lab cpt`` (under torchrun for several processes); the throughput its last checkpoint records."""
    command = [sys.executable, "-m", "solar_lab.cli", "cpt"]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), *command[1:]]
    result = subprocess.run([*command, str(model), str(data), str(out), *args, "--log-every", "1000"],
                            capture_output=True, text=True, env=os.environ | env)
    if result.returncode != 0:
        sys.exit(f"solar-lab cpt failed:\n{result.stdout}{result.stderr}")
    return cpt_checkpoint.read_progress(cpt_checkpoint.latest(out))["throughput"]


def cpu_table(data: Path, scratch: Path, steps: int) -> None:
    recipe = ["--steps", str(steps), "--seq-len", str(RECIPE.block_size), "--save-every", str(steps)]
    cores = os.cpu_count() or 1
    runs = {}
    for processes, threads in ((1, 1), (1, cores), (2, 1)):
        out = scratch / f"cpu-{processes}-{threads}"
        batch = ["--batch-size", str(4 // processes)]
        env = CPU_ONLY | {"OMP_NUM_THREADS": str(threads)}
        runs[processes, threads] = run_cpt(toy.checkpoint_path(), data, out, processes, [*recipe, *batch], env)["tokens_per_second"]
    print(f"CPU ({cores} cores), the toy base, global batch 4 × {RECIPE.block_size} tokens, {steps} steps")
    print(f"{'processes':>9}{'threads each':>14}{'tokens/s':>10}{'vs 1 × 1':>10}")
    for (processes, threads), rate in runs.items():
        print(f"{processes:>9}{threads:>14}{rate:>10,.0f}{rate / runs[1, 1]:>9.2f}x")


def gpu_table(data: Path, scratch: Path, steps: int, wide_hidden: int, wide_layers: int) -> None:
    wide = wide_model(scratch / "wide", wide_hidden, wide_layers)
    parameters = DecoderShape.from_config(LlamaConfig.from_pretrained(wide)).total_parameters()
    models = {"toy": (toy.checkpoint_path(), RECIPE.block_size), f"wide {parameters / 1e9:.2f}B": (wide, 2048)}
    print(f"GPU ({torch.cuda.get_device_name()}), 1 process, bf16, 4 sequences a step, {steps} steps")
    print(f"{'model':<12}{'checkpointing':>14}{'tokens/s':>10}{'peak GiB':>10}{'plan GiB':>10}{'peak / plan':>13}")
    for name, (model, seq_len) in models.items():
        for flag in ([], ["--activation-checkpointing"]):
            out = scratch / f"gpu-{len(flag)}-{model.name}"
            throughput = run_cpt(model, data, out, 1, ["--steps", str(steps), "--seq-len", str(seq_len), "--batch-size", "4",
                                                       "--save-every", str(steps), *flag], {})
            peak, plan = throughput["peak_memory_bytes"] / GIB, throughput["plan_bytes"] / GIB
            print(f"{name:<12}{'on' if flag else 'off':>14}{throughput['tokens_per_second']:>10,.0f}{peak:>10.2f}"
                  f"{plan:>10.2f}{peak / plan:>12.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--wide-hidden", type=int, default=2048)
    parser.add_argument("--wide-layers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = corpus_file(scratch)
        cpu_table(data, scratch, args.steps)
        if torch.cuda.is_available():
            gpu_table(data, scratch, args.steps, args.wide_hidden, args.wide_layers)


if __name__ == "__main__":
    main()
