"""Regenerate the shipped toy base model and tokenizer from fixed seeds.

    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_toy_model.py            # ~5 minutes on 2 free CPU cores
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_toy_model.py --steps 50 --out /tmp/toy-base   # a quick try

Steps: make the corpus (solar_lab.corpus), train the SentencePiece tokenizer on its
training split, pretrain the 8-layer toy model on token blocks, and write config,
bf16 weights, generation config and tokenizer files to solar_lab/assets/toy-base/.
The directory is built under a temporary name and swapped in at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from solar_lab import toy
from solar_lab.runtime import seed_everything
from solar_lab.tokenizer import load_tokenizer, save_tokenizer, train_sentencepiece
from solar_lab.training import evaluate_loss, token_blocks, train

STEPS = 600
BATCH_SIZE = 16
PEAK_LR = 2e-3
WARMUP = 50
WEIGHT_DECAY = 0.1
SEED = 0


def build(out: Path, steps: int) -> None:
    """Train tokenizer and model, then write them into ``out`` atomically."""
    seed_everything(SEED)
    data = toy.corpus()
    scratch = out.with_name(out.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    save_tokenizer(train_sentencepiece(data.train, toy.VOCAB_SIZE), scratch)
    tokenizer = load_tokenizer(scratch)
    train_blocks = token_blocks(tokenizer, data.train, toy.BLOCK_SIZE)
    held_out = token_blocks(tokenizer, data.held_out, toy.BLOCK_SIZE)
    print(f"corpus: {len(data.train)} train / {len(data.held_out)} held-out documents; "
          f"{train_blocks.numel()} / {held_out.numel()} tokens")

    model = LlamaForCausalLM(toy.toy_config())
    log = train(model, train_blocks, steps, batch_size=BATCH_SIZE, lr=PEAK_LR, warmup=min(WARMUP, steps),
                weight_decay=WEIGHT_DECAY, seed=SEED, eval_blocks=held_out, eval_every=max(1, steps // 10))
    for step, loss in zip(log.eval_steps, log.eval_loss):
        print(f"step {step:5d}: held-out loss {loss:.4f}")

    model.to(torch.bfloat16).save_pretrained(scratch)
    stored = LlamaForCausalLM.from_pretrained(scratch, dtype=torch.float32)
    print(f"held-out loss of the stored bf16 weights: {evaluate_loss(stored, held_out):.4f}")
    for file in scratch.iterdir():
        file.chmod(0o644)
    if out.exists():
        shutil.rmtree(out)
    scratch.rename(out)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.1f} MB): {', '.join(sorted(f.name for f in out.iterdir()))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps (default {STEPS})")
    parser.add_argument("--out", type=Path, default=toy.base_path(), help="output directory")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    build(args.out, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
