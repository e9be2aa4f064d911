"""Depth up-scaling against three baselines over several seeds, written to solar_lab/data/dus_seeds.json.

    HF_HUB_OFFLINE=1 .venv/bin/python tools/dus_seeds.py     # MEASURED on 2 free CPU cores

Every arm starts from the shipped toy-base (made by tools/make_lineage.py with
solar_lab.recipe.RECIPE) or from scratch, and is measured on the held-out blocks of the corpus:

- ``up-scaled``: depth_upscale(base, m), then continued pretraining as the recipe's
  (``cpt_steps`` batches of new text, ``cpt_lr``): the lineage's toy-solar-base for seed 0;
- ``base trained further``: the base with the very same continued pretraining;
- ``from scratch, same tokens``: the up-scaled shape from random weights on the same new text,
  with the base's learning rate and warm-up (its best chance);
- ``from scratch, same compute``: the up-scaled shape from random weights, trained with the
  FLOPs of the base's pretraining plus the continued pretraining (6 x parameters per token),
  on the base's text followed by the new text.

A seed fixes the order the batches are drawn in (and the random weights of the scratch arms);
the base and the text are the same for every seed, so the spread over seeds is the noise of
one continued-pretraining run. Phases run over all seeds in the order above, so the central
comparison is on disk first; the file is rewritten after every run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from solar_lab import toy
from solar_lab.dus import depth_upscale
from solar_lab.recipe import BASE_PART, NEW_TEXT_PART, RECIPE
from solar_lab.training import evaluate_loss, train

OUT = Path(__file__).resolve().parents[1] / "solar_lab" / "data" / "dus_seeds.json"
ARMS = ("up-scaled", "base trained further", "from scratch, same tokens", "from scratch, same compute")
SEEDS = (0, 1, 2)
EVAL_POINTS = 10


def flops_per_token(layers: int) -> int:
    """6 x the parameters a token passes through (the embedding lookup excluded, the LM head included)."""
    model = LlamaForCausalLM(toy.toy_config(layers))
    return 6 * (model.num_parameters() - model.model.embed_tokens.weight.numel())


def compute_matched_steps() -> int:
    """Steps of the up-scaled shape that cost what the base's pretraining and the continued pretraining cost."""
    base_cost = RECIPE.base_steps * flops_per_token(RECIPE.base_layers)
    return round(RECIPE.cpt_steps + base_cost / flops_per_token(RECIPE.upscaled_layers))


def summary(result: dict) -> dict:
    """Final held-out loss per arm (mean, min, max over seeds) and the gain of up-scaling per seed."""
    finals = {arm: [runs[arm]["curve"][-1][1] for runs in result["seeds"].values() if arm in runs] for arm in ARMS}
    table = {arm: {"mean": statistics.mean(v), "min": min(v), "max": max(v), "seeds": len(v)} for arm, v in finals.items() if v}
    both = [runs for runs in result["seeds"].values() if "up-scaled" in runs and "base trained further" in runs]
    gains = [runs["base trained further"]["curve"][-1][1] - runs["up-scaled"]["curve"][-1][1] for runs in both]
    spreads = [max(finals[arm]) - min(finals[arm]) for arm in ARMS[:2] if finals[arm]]
    return {"final": table, "gain_per_seed": gains, "spread": max(spreads) if spreads else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    base, tokenizer = toy.load_base()
    _, held_out = toy.corpus_blocks(tokenizer)
    new_text = toy.text_blocks(tokenizer, NEW_TEXT_PART, RECIPE.cpt_rows)
    matched = compute_matched_steps()
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "recipe": {"base_layers": RECIPE.base_layers, "m": RECIPE.drop, "upscaled_layers": RECIPE.upscaled_layers,
                   "base_steps": RECIPE.base_steps, "cpt_steps": RECIPE.cpt_steps, "batch_size": RECIPE.batch_size,
                   "block_size": RECIPE.block_size, "cpt_lr": RECIPE.cpt_lr, "base_lr": RECIPE.base_lr,
                   "compute_matched_steps": matched},
        "base": round(evaluate_loss(base, held_out), 5),
        "merged": round(evaluate_loss(depth_upscale(base, RECIPE.drop), held_out), 5),
    })
    result.setdefault("seeds", {})
    for arm in args.arms:
        for seed in args.seeds:
            runs = result["seeds"].setdefault(str(seed), {})
            if arm == "up-scaled":
                model, blocks, steps, lr, warmup = depth_upscale(base, RECIPE.drop), new_text, RECIPE.cpt_steps, RECIPE.cpt_lr, RECIPE.cpt_warmup
            elif arm == "base trained further":
                model, blocks, steps, lr, warmup = copy.deepcopy(base), new_text, RECIPE.cpt_steps, RECIPE.cpt_lr, RECIPE.cpt_warmup
            else:
                torch.manual_seed(seed)
                model = LlamaForCausalLM(toy.toy_config(RECIPE.upscaled_layers))
                lr, warmup = RECIPE.base_lr, RECIPE.warmup
                if arm == "from scratch, same tokens":
                    blocks, steps = new_text, RECIPE.cpt_steps
                else:
                    blocks = torch.cat([toy.text_blocks(tokenizer, BASE_PART, RECIPE.base_rows), new_text])
                    steps = matched
            start = time.perf_counter()
            log = train(model, blocks, steps, batch_size=RECIPE.batch_size, lr=lr, warmup=warmup,
                        schedule=RECIPE.schedule, weight_decay=RECIPE.weight_decay, seed=seed,
                        eval_blocks=held_out, eval_every=max(1, steps // EVAL_POINTS), progress=False)
            runs[arm] = {"steps": steps, "lr": lr, "seconds": round(time.perf_counter() - start),
                         "curve": [[step, round(loss, 5)] for step, loss in zip(log.eval_steps, log.eval_loss)]}
            print(f"seed {seed}, {arm}: {log.eval_loss[0]:.4f} -> {log.eval_loss[-1]:.4f} "
                  f"({runs[arm]['seconds']} s)", flush=True)
            result["summary"] = summary(result)
            temporary = args.out.with_name(args.out.name + ".tmp")
            temporary.write_text(json.dumps(result, indent=1) + "\n")
            os.replace(temporary, args.out)
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
