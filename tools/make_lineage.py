"""Make the toy lineage, SOLAR 10.7B's recipe in miniature, from the corpus: every shipped checkpoint.

    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_lineage.py           # 1051 s measured on 2 cores, shared with other jobs
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_lineage.py --check   # rebuild in a temporary folder, compare
    HF_HUB_OFFLINE=1 .venv/bin/python tools/make_lineage.py --alignment-only   # only stages 4-6, a few minutes

Every number comes from ``solar_lab.recipe.RECIPE``; every seed is fixed. The stages:

1. tokenizer: SentencePiece BPE trained on the corpus' training split (``toy.corpus()``);
2. ``toy-base``: the base pretrained on corpus part ``recipe.BASE_PART``, each block read once;
3. depth up-scaling with m = ``RECIPE.drop``, then continued pretraining on part
   ``recipe.NEW_TEXT_PART`` (new documents of the same world): ``toy-solar-base``;
4. instruction tuning on ``instruct_train.jsonl``: ``toy-solar-sft``;
5. DPO from toy-solar-sft against it as reference: v1 on preference set A
   (``preference_train.jsonl``), v2 on set A plus the math alignment set
   (``math_alignment_train.jsonl``): ``toy-solar-dpo-v1``, ``toy-solar-dpo-v2``;
6. their 0.5/0.5 average: ``toy-solar-instruct``.

Each stage is stored in bfloat16 and the next one starts from the stored weights, so a
notebook that loads a shipped stage starts where the lineage did. Everything is written
under ``solar_lab/assets.tmp`` and swapped in at the end. ``--check`` makes the lineage in a
temporary folder and compares it with the shipped one: identical tensors, or held-out losses
within ``LOSS_TOLERANCE``, else exit 1. Runs are bitwise repeatable only with the same CPU and
thread count: the base trained with one thread instead of two ended 0.008 nats apart. A build also
writes what it measured to ``solar_lab/data/lineage.json`` (notebook 02 draws it).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from solar_lab import averaging, dpo, instruct_data, sft, toy
from solar_lab.dus import depth_upscale
from solar_lab.recipe import BASE_PART, NEW_TEXT_PART, RECIPE, STAGES, ToyRecipe
from solar_lab.tokenizer import load_tokenizer, save_tokenizer, train_sentencepiece
from solar_lab.training import TrainLog, evaluate_loss, train

LOSS_TOLERANCE = 0.005
RECORD = Path(__file__).resolve().parents[1] / "solar_lab" / "data" / "lineage.json"
"""What the last build measured: held-out loss per stage and the two pretraining curves."""
MAX_LENGTH = 2 * toy.BLOCK_SIZE


def store(model: PreTrainedModel, tokenizer_dir: Path, out: Path) -> PreTrainedModel:
    """Save ``model`` in bfloat16 with the tokenizer files into ``out``; return the stored weights in float32."""
    model.to(torch.bfloat16).save_pretrained(out)
    for file in tokenizer_dir.iterdir():
        shutil.copy(file, out / file.name)
    for file in out.iterdir():
        file.chmod(0o644)
    return LlamaForCausalLM.from_pretrained(out, dtype=torch.float32)


def curve(log: TrainLog) -> list[list[float]]:
    """A run's held-out losses as [step, loss] pairs."""
    return [[step, round(loss, 5)] for step, loss in zip(log.eval_steps, log.eval_loss)]


def pretrain(tokenizer: PreTrainedTokenizerBase, held_out: torch.Tensor, recipe: ToyRecipe) -> tuple[PreTrainedModel, TrainLog]:
    """The base: a ``base_layers``-deep model trained on ``base_rows`` blocks of corpus part BASE_PART."""
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(toy.toy_config(recipe.base_layers))
    blocks = toy.text_blocks(tokenizer, BASE_PART, recipe.base_rows)
    log = train(model, blocks, recipe.base_steps, batch_size=recipe.batch_size, lr=recipe.base_lr,
                warmup=recipe.warmup, schedule=recipe.schedule, weight_decay=recipe.weight_decay, seed=recipe.seed,
                eval_blocks=held_out, eval_every=recipe.base_steps // 20)
    return model, log


def continue_pretraining(
    merged: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, held_out: torch.Tensor, recipe: ToyRecipe
) -> TrainLog:
    """Continued pretraining of the up-scaled model on ``cpt_rows`` blocks of new text, in place."""
    blocks = toy.text_blocks(tokenizer, NEW_TEXT_PART, recipe.cpt_rows)
    return train(merged, blocks, recipe.cpt_steps, batch_size=recipe.batch_size, lr=recipe.cpt_lr,
                 warmup=recipe.cpt_warmup, schedule=recipe.schedule, weight_decay=recipe.weight_decay, seed=recipe.seed,
                 eval_blocks=held_out, eval_every=recipe.cpt_steps // 10)


def align(reference: PreTrainedModel, pairs: list, pad_id: int, recipe: ToyRecipe) -> PreTrainedModel:
    """One DPO candidate: a copy of ``reference`` trained on ``pairs`` against it."""
    policy = copy.deepcopy(reference)
    dpo.train_dpo(policy, reference, pairs, pad_id, recipe.dpo_steps, beta=recipe.dpo_beta, batch_size=recipe.batch_size,
                  lr=recipe.dpo_lr, seed=recipe.seed, sft_weight=recipe.dpo_sft_weight)
    return policy


def build(out: Path, recipe: ToyRecipe = RECIPE, pretrained: Path | None = None) -> dict[str, Any]:
    """Make every stage into ``out/<stage>``; return the held-out losses: per stage, and the two pretraining curves.

    With ``pretrained`` (a folder of shipped stages and its ``lineage.json`` record), the two
    pretrained stages are copied from it and only the alignment stages are made again.
    """
    start = time.perf_counter()
    out.mkdir(parents=True)
    tokenizer_dir = out / "tokenizer"
    save_tokenizer(train_sentencepiece(toy.corpus().train, toy.VOCAB_SIZE), tokenizer_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    _, held_out = toy.corpus_blocks(tokenizer)
    pad_id = sft.pad_token_id(tokenizer)
    losses: dict[str, float] = {}

    def keep(stage: str, model: PreTrainedModel) -> PreTrainedModel:
        stored = store(model, tokenizer_dir, out / stage)
        losses[stage] = evaluate_loss(stored, held_out)
        print(f"{stage}: held-out loss {losses[stage]:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
        return stored

    if pretrained is None:
        model, base_log = pretrain(tokenizer, held_out, recipe)
        base = keep("toy-base", model)
        merged = depth_upscale(base, recipe.drop)
        cpt_log = continue_pretraining(merged, tokenizer, held_out, recipe)
        print(f"merged ({recipe.upscaled_layers} layers): held-out loss {cpt_log.eval_loss[0]:.4f}", flush=True)
        solar_base = keep("toy-solar-base", merged)
        curves = {"base_curve": curve(base_log), "continued_pretraining_curve": curve(cpt_log)}
    else:
        for stage in STAGES[:2]:
            shutil.copytree(pretrained / stage, out / stage)
            losses[stage] = evaluate_loss(LlamaForCausalLM.from_pretrained(out / stage, dtype=torch.float32), held_out)
        solar_base = LlamaForCausalLM.from_pretrained(out / "toy-solar-base", dtype=torch.float32)
        curves = {name: json.loads(RECORD.read_text())[name] for name in ("base_curve", "continued_pretraining_curve")}

    tuned = copy.deepcopy(solar_base)
    examples = sft.encode_rows(tokenizer, instruct_data.load("instruct", "train"), MAX_LENGTH)
    sft.train_sft(tuned, examples, pad_id, recipe.sft_steps, batch_size=recipe.batch_size, lr=recipe.sft_lr,
                  seed=recipe.seed)
    tuned = keep("toy-solar-sft", tuned)

    set_a = dpo.encode_pairs(tokenizer, instruct_data.load("preference", "train"), MAX_LENGTH)
    math_set = dpo.encode_pairs(tokenizer, instruct_data.load("math_alignment", "train"), MAX_LENGTH)
    v1 = keep("toy-solar-dpo-v1", align(tuned, set_a, pad_id, recipe))
    v2 = keep("toy-solar-dpo-v2", align(tuned, set_a + math_set, pad_id, recipe))

    average = copy.deepcopy(v1)
    average.load_state_dict(averaging.linear_average(v1.state_dict(), v2.state_dict(), recipe.average_ratio))
    keep("toy-solar-instruct", average)
    shutil.rmtree(tokenizer_dir)
    seconds = round(time.perf_counter() - start)
    print(f"lineage made in {seconds} s", flush=True)
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", "seconds": seconds,
            "stages_made": list(STAGES[2:] if pretrained else STAGES),
            "held_out_loss": {stage: round(loss, 5) for stage, loss in losses.items()}, **curves}


def compare(fresh: Path, shipped: Path, losses: dict[str, float]) -> list[str]:
    """The stages of ``fresh`` that differ from ``shipped`` beyond the tolerance, each with why."""
    tokenizer = load_tokenizer(shipped / STAGES[0])
    _, held_out = toy.corpus_blocks(tokenizer)
    problems = []
    for stage in STAGES:
        if not (shipped / stage / "model.safetensors").is_file():
            problems.append(f"{stage}: not shipped")
            continue
        ours, theirs = load_file(fresh / stage / "model.safetensors"), load_file(shipped / stage / "model.safetensors")
        if ours.keys() == theirs.keys() and all(torch.equal(ours[name], theirs[name]) for name in ours):
            print(f"{stage}: identical tensors")
            continue
        shipped_loss = evaluate_loss(LlamaForCausalLM.from_pretrained(shipped / stage, dtype=torch.float32), held_out)
        gap = abs(shipped_loss - losses[stage])
        print(f"{stage}: tensors differ; held-out loss shipped {shipped_loss:.4f}, rebuilt {losses[stage]:.4f}")
        if gap > LOSS_TOLERANCE:
            problems.append(f"{stage}: held-out loss differs by {gap:.4f} (> {LOSS_TOLERANCE})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare; write nothing")
    parser.add_argument("--alignment-only", action="store_true",
                        help="keep the shipped toy-base and toy-solar-base; make the later stages again")
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()  # loading and saving take no time here; training shows its bars
    assets = toy.assets_path()
    if args.check:
        with tempfile.TemporaryDirectory() as scratch:
            fresh = Path(scratch) / "assets"
            problems = compare(fresh, assets, build(fresh)["held_out_loss"])
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    scratch = assets.with_name(assets.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    record = build(scratch, pretrained=assets if args.alignment_only else None)
    if assets.exists():
        shutil.rmtree(assets)
    scratch.rename(assets)
    temporary = RECORD.with_name(RECORD.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(temporary, RECORD)
    size = sum(file.stat().st_size for file in assets.rglob("*") if file.is_file())
    print(f"wrote {assets} ({size / 1e6:.1f} MB): {', '.join(STAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
