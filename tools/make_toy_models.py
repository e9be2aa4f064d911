"""Make the toy world's tokenizer, the shipped toy-base and toy-solar-base, and the multi-seed DUS result.

    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_toy_models.py           # everything (time: solar_lab/recipe.py)
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_toy_models.py --check   # rebuild in a scratch folder, compare
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_toy_models.py --people 300 --base-steps 4 --cpt-steps 2 \\
        --probe-documents 40 --out /tmp/toy                               # a quick try

Everything comes from ``solar_lab.recipe.RECIPE`` (flags override a few fields for a quick try):

1. The tokenizer: SentencePiece BPE trained on ``toy.corpus()``, a fixed sample of the world's
   documents, and on the instruction data's chats (so SOLAR's template has pieces of its own).
2. For every seed: a base pretrained from that seed's initialisation and data order, rounded to
   bf16 (the precision it ships in), then every arm of ``solar_lab.dus_experiment`` on the same
   new documents. The paired arms (up-scaled, further) run for every seed, the others for the
   first seed, where the m = 0 ablation also runs.
3. The first seed's base ships as ``toy-base``, its up-scaled arm as ``toy-solar-base``; every
   curve goes to ``data/dus_seeds.json`` with the verdict of ``dus_experiment.verdict``.

Runs are jobs for ``--workers`` processes of ``--threads`` threads each (on a 2-core CPU one
process with both threads was faster than two with one each), on a GPU when there is one. A finished job leaves
its curve (and model) in ``--work``, so a build that stops resumes where it was. The outputs are
written under temporary names and renamed at the end.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel
from transformers.utils import logging as transformers_logging

from solar_lab import dus_experiment, instruct_data, runtime, toy
from solar_lab.architecture import DecoderShape
from solar_lab.checkpoint_upscale import publish
from solar_lab.knowledge import inner_parameters
from solar_lab.prompt import solar_prompt
from solar_lab.recipe import RECIPE, ToyRecipe
from solar_lab.tokenizer import TOKENIZER_FILES, load_tokenizer, save_tokenizer, train_sentencepiece

ROOT = Path(__file__).resolve().parents[1] / "solar_lab"
WORK = ROOT.parent / "build" / "toy-models"
RESULT = "dus_seeds.json"
SIZES = ("people", "base_steps", "cpt_steps", "batch_size", "probe_documents")
"""Recipe fields a flag can override, for a quick try or a larger run on a GPU."""
SHIPPED = {"toy-base": "base", "toy-solar-base": "up-scaled"}
"""Shipped checkpoint -> the job of the first seed that makes it."""


def tokenizer_text(recipe: ToyRecipe) -> list[str]:
    """What the tokenizer learns its pieces from: the corpus sample, and the chats of the instruction data."""
    chats = [solar_prompt(row["prompt"]) + (row.get("response") or row["chosen"])
             for rows in instruct_data.make_all(toy.world(recipe)).values() for row in rows]
    return toy.corpus(recipe=recipe).train + chats


def jobs_of(recipe: ToyRecipe) -> list[tuple[int, str]]:
    """(seed, arm) for every run after the bases: paired arms for every seed, the rest for the first."""
    return [(seed, arm) for seed in recipe.seeds for arm in dus_experiment.ARMS
            if arm in dus_experiment.PAIRED or seed == recipe.seeds[0]]


def run_job(recipe: ToyRecipe, seed: int, arm: str, work: Path, threads: int, device: str) -> str:
    """One run in a worker process: the base of ``seed`` (arm ``"base"``) or an arm from it.

    Every run ends with its weights rounded to bf16 and measured again, so the last point of
    each curve is the model as it ships, and every arm starts from the base exactly as it ships.
    """
    torch.set_num_threads(threads)
    transformers_logging.disable_progress_bar()
    tokenizer = load_tokenizer(work / "tokenizer")
    probe = toy.probe(tokenizer, recipe)
    folder = work / f"seed-{seed}"
    start = time.perf_counter()
    measure_every = max(1, recipe.base_steps // 10)

    def report(curve: dus_experiment.Curve) -> None:
        print(f"  seed {seed} {arm}: step {curve.steps[-1]}, facts accuracy {curve.accuracy[-1]:.3f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)

    if arm == "base":
        model = dus_experiment.fresh_model(recipe.layers, seed, recipe).to(device)
        curve = dus_experiment.pretrain(model, tokenizer, recipe.base_data_seed(seed), recipe.base_steps,
                                        recipe.base_lr, probe, measure_every, recipe, progress=False,
                                        on_measure=report)
    else:
        base = AutoModelForCausalLM.from_pretrained(folder / "base", dtype=torch.float32).to(device)
        model, curve = dus_experiment.run_arm(arm, base, tokenizer, seed, probe, measure_every, recipe,
                                              progress=False, on_measure=report)
    model.to(torch.bfloat16).float()  # every run ends as it would ship: bf16 weights
    curve.remeasure_last(model, probe, toy.world(recipe))
    result = {"curve": dataclasses.asdict(curve), "seconds": round(time.perf_counter() - start)}
    if arm == "base" or (seed == recipe.seeds[0] and arm in SHIPPED.values()):
        save_model(model, work / "tokenizer", folder / arm)
    write_json(folder / f"{arm}.json", result)
    return f"seed {seed} {arm}: facts accuracy {curve.accuracy[0]:.3f} -> {curve.accuracy[-1]:.3f} in {result['seconds']} s"


def save_model(model: PreTrainedModel, tokenizer_folder: Path, out: Path) -> None:
    """bf16 weights, config and the tokenizer's files in ``out``, swapped in whole; ``model`` stays as it is."""
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + "."))
    copy.deepcopy(model).to("cpu", torch.bfloat16).save_pretrained(scratch)  # a copy: .to() changes a model in place
    for name in TOKENIZER_FILES:
        shutil.copy(tokenizer_folder / name, scratch / name)
    for file in scratch.iterdir():
        file.chmod(0o644)
    publish(scratch, out, force=True)


def write_json(path: Path, value: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(temporary, path)


def build(recipe: ToyRecipe, work: Path, workers: int, threads: int, device: str) -> dict:
    """Tokenizer, then every job (bases first, each arm once its base exists); the assembled result."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "tokenizer" / "tokenizer.model").is_file():
        save_tokenizer(train_sentencepiece(tokenizer_text(recipe), recipe.vocab_size), work / "tokenizer")
    todo = [(seed, "base") for seed in recipe.seeds] + jobs_of(recipe)
    done = {job for job in todo if (work / f"seed-{job[0]}" / f"{job[1]}.json").is_file()}
    for seed in recipe.seeds:
        (work / f"seed-{seed}").mkdir(exist_ok=True)
    print(f"{len(todo)} runs, {len(done)} already done in {work}", flush=True)
    running: dict[Future, tuple[int, str]] = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        while len(done) < len(todo):
            for job in todo:
                ready = job[1] == "base" or (job[0], "base") in done
                if job not in done and job not in running.values() and ready and len(running) < workers:
                    running[pool.submit(run_job, recipe, job[0], job[1], work, threads, device)] = job
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                print(future.result(), flush=True)
                done.add(running.pop(future))
    return assemble(recipe, work)


def assemble(recipe: ToyRecipe, work: Path) -> dict:
    """The result file's content from the jobs' files."""
    seeds = {}
    seconds = {}
    for seed in recipe.seeds:
        runs = {}
        for arm in ["base", *dus_experiment.ARMS]:
            path = work / f"seed-{seed}" / f"{arm}.json"
            if path.is_file():
                job = json.loads(path.read_text())
                runs[arm] = job["curve"]
                seconds[f"{seed} {arm}"] = job["seconds"]
        seeds[str(seed)] = runs
    configs = {name: toy.toy_config(layers, recipe)
               for name, layers in (("base", recipe.layers), ("up-scaled", recipe.upscaled_layers))}
    result = {
        "recipe": dataclasses.asdict(recipe),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "world_bits": toy.world(recipe).bits(),
        "parameters": {name: DecoderShape.from_config(config).total_parameters() for name, config in configs.items()},
        "inner_parameters": {name: inner_parameters(config) for name, config in configs.items()},
        "seconds": seconds,
        "seeds": seeds,
    }
    result["verdict"] = dus_experiment.verdict(result)
    return result


def ship(work: Path, result: dict, root: Path) -> None:
    """The first seed's checkpoints into ``root/assets`` and the result into ``root/data``, each swapped in whole."""
    first = result["recipe"]["seeds"][0]
    (root / "assets").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for stage, job in SHIPPED.items():
        ship_folder(work / f"seed-{first}" / job, root / "assets" / stage)
    write_json(root / "data" / RESULT, result)


def ship_folder(source: Path, out: Path) -> None:
    """A copy of ``source`` swapped in as ``out``."""
    scratch = out.with_name(out.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(source, scratch)
    publish(scratch, out, force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT, help="folder that receives assets/ and data/ (default: the package)")
    parser.add_argument("--work", type=Path, default=WORK,
                        help="where runs keep their results, so a stopped build resumes (default: build/toy-models)")
    parser.add_argument("--workers", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per run (default: every core)")
    parser.add_argument("--device", default=runtime.device(), help="cpu or cuda (default: cuda when there is a GPU)")
    parser.add_argument("--check", action="store_true", help="rebuild in a scratch folder and compare with what ships")
    for field in SIZES:
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, help=f"override RECIPE.{field}")
    parser.add_argument("--seeds", type=int, nargs="+", help="override RECIPE.seeds")
    parser.add_argument("--bf16", action="store_true", help="compute in bf16 (GPUs that compute in it)")
    args = parser.parse_args()
    overrides = {field: getattr(args, field) for field in SIZES if getattr(args, field) is not None}
    if args.seeds:
        overrides["seeds"] = tuple(args.seeds)
    if args.bf16:
        overrides["bf16"] = True
    if any(overrides[field] < 1 for field in SIZES if field in overrides) or min(overrides.get("seeds", (0,))) < 0:
        parser.error("sizes and steps must be at least 1, seeds at least 0")
    if min(args.workers, args.threads) < 1:
        parser.error("--workers and --threads must be at least 1")
    recipe = dataclasses.replace(RECIPE, **overrides)
    if args.check:
        return check(recipe, args.workers, args.threads, args.device)
    result = build(recipe, args.work, args.workers, args.threads, args.device)
    ship(args.work, result, args.out)
    print(f"wrote {args.out / 'assets'} ({', '.join(SHIPPED)}) and {args.out / 'data' / RESULT}")
    print_verdict(result)
    return 0


def print_verdict(result: dict) -> None:
    v = result["verdict"]
    if v["gain_sd"] is None:  # one seed: no spread to compare with
        print(f"paired gain (accuracy points): {100 * v['mean_gain']:+.2f}; one seed, so no spread")
        return
    print(f"paired gains (accuracy points): {', '.join(f'{100 * g:+.2f}' for g in v['gains'])}; "
          f"mean {100 * v['mean_gain']:+.2f} ± {100 * v['gain_sd']:.2f}; base spread {100 * v['base_sd']:.2f}")
    print(f"every seed gains: {v['every_seed_gains']}; mean > 3 sd: {v['mean_over_3_sd']}; "
          f"mean > base spread: {v['above_base_spread']}")


def check(recipe: ToyRecipe, workers: int, threads: int, device: str) -> int:
    """Rebuild from scratch and compare every final number with the shipped result (to 0.5 points)."""
    shipped = json.loads((ROOT / "data" / RESULT).read_text())
    with tempfile.TemporaryDirectory() as scratch:
        result = build(recipe, Path(scratch) / "work", workers, threads, device)
    mismatches = []
    for seed, runs in shipped["seeds"].items():
        for arm, curve in runs.items():
            rebuilt = result["seeds"].get(seed, {}).get(arm)
            if rebuilt is None or not math.isclose(rebuilt["accuracy"][-1], curve["accuracy"][-1], abs_tol=0.005):
                mismatches.append(f"seed {seed} {arm}: shipped {curve['accuracy'][-1]}, "
                                  f"rebuilt {rebuilt and rebuilt['accuracy'][-1]}")
    print_verdict(result)
    if mismatches:
        print("differs from what ships:\n  " + "\n  ".join(mismatches), file=sys.stderr)
        return 1
    print("the rebuild matches what ships")
    return 0


if __name__ == "__main__":
    sys.exit(main())
