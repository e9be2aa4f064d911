"""Make the toy lineage after toy-solar-base: instruction tuning, two DPO candidates and their average.

    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_lineage.py            # time: solar_lab/recipe.py
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_lineage.py --check    # rebuild in a scratch folder, compare
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_lineage.py --sft-steps 2 --dpo-steps 2 --out /tmp/lineage  # a quick try

SOLAR 10.7B-Instruct's path in miniature, from the shipped ``toy-solar-base`` with ``RECIPE``'s settings:

1. instruction tuning on ``instruct_train.jsonl`` (questions about the tuning half of the world's
   people, and the skills): the SFT model;
2. DPO v1 on preference set A (``preference_train.jsonl``) and DPO v2 on set A plus the math
   alignment set built SOLAR's way (``preference_math_train.jsonl``: chosen = the answer rephrased
   with its work, rejected = the original answer), each against the SFT model as reference;
3. ``toy-solar-instruct``: the ``RECIPE.average_ratio`` linear average of v1 and v2.

Every stage, and the stages before (toy-base, the merge, toy-solar-base), is measured: chat
accuracy per kind on the held-out questions (greedy, PyTorch), the extraction rate of facts
about the held-out people, and the six toy H6 tasks. ``toy-solar-instruct`` ships in
``assets/`` (the intermediate models stay in ``--work``: the shipped models must stay under
40 MB together); the numbers go to ``data/lineage.json``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.utils import logging as transformers_logging

from solar_lab import dpo, h6_toy, instruct_data, preference_eval, sft, toy
from solar_lab.averaging import linear_average
from solar_lab.dus import depth_upscale
from solar_lab.gguf_export import export_gguf
from solar_lab.quantize import quantize
from solar_lab.recipe import RECIPE, ToyRecipe

from make_toy_models import save_model, ship_folder, write_json  # tools/ is on sys.path: the script's own folder

ROOT = Path(__file__).resolve().parents[1] / "solar_lab"
WORK = ROOT.parent / "build" / "lineage"
RESULT = "lineage.json"
STAGES = ("toy-base", "merged", "toy-solar-base", "sft", "dpo-v1", "dpo-v2", "toy-solar-instruct")
"""Every stage measured, in lineage order; the last one ships."""


def as_shipped(model: PreTrainedModel) -> PreTrainedModel:
    """The model with its weights rounded to bf16, the precision it ships in, computing in float32."""
    return model.to(torch.bfloat16).float()


def train(recipe: ToyRecipe, work: Path, device: str) -> dict[str, PreTrainedModel]:
    """SFT, DPO v1 and v2, and their average, each rounded to bf16 and kept in ``work``."""
    base, tokenizer = toy.load("toy-solar-base")
    pad = sft.pad_token_id(tokenizer)
    context = base.config.max_position_embeddings
    models = {}
    start = time.perf_counter()
    tuned = copy.deepcopy(base).to(device)
    examples = sft.encode_rows(tokenizer, instruct_data.load("instruct", "train"), context)
    sft.train_sft(tuned, examples, pad, recipe.sft_steps, recipe.sft_batch_size, recipe.sft_lr, progress=False)
    models["sft"] = as_shipped(tuned)
    print(f"sft: {time.perf_counter() - start:.0f} s", flush=True)
    set_a = instruct_data.load("preference", "train")
    sets = {"dpo-v1": set_a, "dpo-v2": set_a + instruct_data.load("preference_math", "train")}
    for name, rows in sets.items():
        policy = copy.deepcopy(models["sft"])
        dpo.train_dpo(policy, models["sft"], dpo.encode_pairs(tokenizer, rows, context), pad, recipe.dpo_steps,
                      recipe.dpo_beta, recipe.dpo_batch_size, recipe.dpo_lr, progress=False,
                      sft_weight=recipe.dpo_sft_weight)
        models[name] = as_shipped(policy)
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    average = copy.deepcopy(models["sft"])
    average.load_state_dict(linear_average(models["dpo-v1"].state_dict(), models["dpo-v2"].state_dict(),
                                           recipe.average_ratio))
    models["toy-solar-instruct"] = as_shipped(average)
    for name, model in models.items():
        save_model(model, toy.checkpoint_path("toy-solar-base"), work / name)
    return models


def measure(models: dict[str, PreTrainedModel], work: Path) -> dict:
    """Chat accuracy per kind, extraction rate and the toy H6 of every stage; the H6 of the average as Q4_K_M."""
    base, tokenizer = toy.load("toy-base")
    stages = {"toy-base": base, "merged": depth_upscale(base, RECIPE.drop),
              "toy-solar-base": toy.load("toy-solar-base")[0], **models}
    held_out = instruct_data.load("instruct", "held_out")
    facts = [row for row in held_out if row["kind"] == "facts"]
    known = preference_eval.completes(stages["toy-solar-base"], tokenizer, facts)
    tasks = h6_toy.load_tasks()
    result = {"held_out_questions": len(held_out), "facts_known_by_toy_solar_base": sum(known), "stages": {}}
    for name in STAGES:
        model = stages[name]
        answers = sft.generate(model, tokenizer, [row["prompt"] for row in held_out])
        chat = preference_eval.generation_by_kind(held_out, answers)
        answered = [instruct_data.is_right(row, answer) for row, answer in zip(held_out, answers) if row["kind"] == "facts"]
        result["stages"][name] = {
            "chat": chat,
            "extraction_rate": preference_eval.extraction_rate(known, answered),
            "h6": h6_toy.evaluate(model, tokenizer, tasks),
            "examples": [{"prompt": row["prompt"], "answer": answer} for row, answer in list(zip(held_out, answers))[::40]],
        }
        print(f"{name}: chat {', '.join(f'{k} {v:.0%}' for k, v in chat.items())}; "
              f"extraction {result['stages'][name]['extraction_rate']:.0%}; H6 {result['stages'][name]['h6']['H6']:.1f}",
              flush=True)
    f32 = export_gguf(work / "toy-solar-instruct", work / "toy-solar-instruct.F32.gguf", outtype="f32")
    result["toy-solar-instruct Q4_K_M"] = {"h6": h6_toy.evaluate(quantize(f32, work / "toy-solar-instruct.Q4_K_M.gguf",
                                                                           "Q4_K_M"), tokenizer, tasks)}
    print(f"toy-solar-instruct Q4_K_M: H6 {result['toy-solar-instruct Q4_K_M']['h6']['H6']:.1f}", flush=True)
    return result


def build(recipe: ToyRecipe, work: Path, device: str) -> dict:
    start = time.perf_counter()
    models = train(recipe, work, device)
    trained = time.perf_counter() - start
    result = measure({name: model.to("cpu") for name, model in models.items()}, work)
    result |= {"recipe": {k: v for k, v in dataclasses.asdict(recipe).items() if k.startswith(("sft", "dpo", "average"))},
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {device}",
               "seconds": {"training": round(trained), "total": round(time.perf_counter() - start)}}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT, help="folder that receives assets/ and data/ (default: the package)")
    parser.add_argument("--work", type=Path, default=WORK, help="where every stage's model is kept (default: build/lineage)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--check", action="store_true", help="rebuild in a scratch folder and compare with what ships")
    for field in ("sft_steps", "dpo_steps"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, help=f"override RECIPE.{field}")
    args = parser.parse_args()
    overrides = {f: getattr(args, f) for f in ("sft_steps", "dpo_steps") if getattr(args, f) is not None}
    if any(value < 1 for value in overrides.values()):
        parser.error("--sft-steps and --dpo-steps must be at least 1")
    recipe = dataclasses.replace(RECIPE, **overrides)
    transformers_logging.disable_progress_bar()
    if args.check:
        return check(recipe, args.device)
    result = build(recipe, args.work, args.device)
    (args.out / "assets").mkdir(parents=True, exist_ok=True)
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    ship_folder(args.work / "toy-solar-instruct", args.out / "assets" / "toy-solar-instruct")
    write_json(args.out / "data" / RESULT, result)
    print(f"wrote {args.out / 'assets' / 'toy-solar-instruct'} and {args.out / 'data' / RESULT}")
    return 0


def check(recipe: ToyRecipe, device: str) -> int:
    """Rebuild from scratch and compare every stage's chat accuracy and H6 with the shipped file."""
    shipped = json.loads((ROOT / "data" / RESULT).read_text())
    with tempfile.TemporaryDirectory() as scratch:
        result = build(recipe, Path(scratch), device)
        weights = [folder / "toy-solar-instruct" / "model.safetensors" for folder in (Path(scratch), ROOT / "assets")]
        same = weights[0].read_bytes() == weights[1].read_bytes()
    print(f"rebuilt toy-solar-instruct weights: {'identical to' if same else 'different from'} the shipped ones"
          + ("" if same else " (expected on another machine or device; the numbers decide)"))
    mismatches = []
    for name, stage in shipped["stages"].items():
        pairs = [(f"chat {k}", v, result["stages"][name]["chat"][k]) for k, v in stage["chat"].items()]
        pairs += [(f"H6 {k}", v / 100, result["stages"][name]["h6"][k] / 100) for k, v in stage["h6"].items()]
        mismatches += [f"{name} {what}: shipped {a:.3f}, rebuilt {b:.3f}" for what, a, b in pairs
                       if not math.isclose(a, b, abs_tol=0.02)]
    if mismatches:
        print("differs from what ships:\n  " + "\n  ".join(mismatches), file=sys.stderr)
        return 1
    print("the rebuild matches what ships (every chat accuracy and H6 score within 2 points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
