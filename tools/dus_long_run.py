"""The longer DUS runs notebook 02 cannot afford on a CPU, written to solar_lab/data/dus_long_run.json.

    HF_HUB_OFFLINE=1 .venv/bin/python tools/dus_long_run.py     # about 20 minutes on 2 free cores
    HF_HUB_OFFLINE=1 .venv/bin/python tools/dus_long_run.py --scratch-steps 1 --steps 1 --out /tmp/dus.json  # a quick try

Two questions, same held-out text as the notebook (all held-out blocks):

1. Does depth pay on the toy corpus at all? A 12-layer model trained from scratch with the
   recipe that made the shipped 8-layer base (tools/make_toy_model.py), against that base.
2. Does the up-scaled model (m = 2) pull ahead of the base trained further if both get
   STEPS steps of new text from the same source (solar_lab.toy.new_text_blocks)?
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

import make_toy_model as recipe
from solar_lab import toy
from solar_lab.dus import depth_upscale
from solar_lab.runtime import seed_everything
from solar_lab.training import evaluate_loss, train

OUT = Path(__file__).resolve().parents[1] / "solar_lab" / "data" / "dus_long_run.json"
STEPS, BATCH, LR, DROP = 300, 8, 2e-4, 2
"""Continued pretraining as in notebook 02, run longer."""


def curve(log) -> list[list[float]]:
    return [[step, round(loss, 5)] for step, loss in zip(log.eval_steps, log.eval_loss)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--scratch-steps", type=int, default=recipe.STEPS,
                        help=f"steps of the 12-layer model from scratch (default {recipe.STEPS})")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"continued-pretraining steps (default {STEPS})")
    args = parser.parse_args()
    if min(args.scratch_steps, args.steps) < 1:
        parser.error("--scratch-steps and --steps must be at least 1")
    scratch_steps, steps = args.scratch_steps, args.steps
    base, tokenizer = toy.load_base()
    train_blocks, held_out = toy.corpus_blocks(tokenizer)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "held_out_blocks": len(held_out), "base": round(evaluate_loss(base, held_out), 5)}

    start = time.perf_counter()
    seed_everything(recipe.SEED)
    deep = LlamaForCausalLM(toy.toy_config(12))
    log = train(deep, train_blocks, scratch_steps, batch_size=recipe.BATCH_SIZE, lr=recipe.PEAK_LR,
                warmup=min(recipe.WARMUP, scratch_steps), weight_decay=recipe.WEIGHT_DECAY, seed=recipe.SEED,
                eval_blocks=held_out, eval_every=max(1, scratch_steps // 10))
    result["from_scratch"] = {"8 layers (the shipped base)": result["base"], "12 layers": round(log.eval_loss[-1], 5),
                              "12 layers curve": curve(log)}
    print(f"12 layers from scratch: {log.eval_loss[-1]:.4f} (base {result['base']:.4f})", flush=True)

    new_text = toy.new_text_blocks(tokenizer, steps * BATCH)
    runs = {"up-scaled (m=2, 12 layers)": depth_upscale(base, DROP), "base trained further (8 layers)": toy.load_base()[0]}
    result["continued"] = {"steps": steps, "batch": BATCH, "lr": LR, "tokens": steps * BATCH * toy.BLOCK_SIZE}
    for name, model in runs.items():
        log = train(model, new_text, steps, batch_size=BATCH, lr=LR, warmup=steps // 10, seed=0,
                    eval_blocks=held_out, eval_every=max(1, steps // 6))
        result["continued"][name] = curve(log)
        print(f"{name}: {log.eval_loss[0]:.4f} -> {log.eval_loss[-1]:.4f}", flush=True)
    result["seconds"] = round(time.perf_counter() - start)

    temporary = args.out.with_name(args.out.name + ".tmp")
    temporary.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(temporary, args.out)
    print(f"wrote {args.out} after {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
