"""Does depth up-scaling pay? The arms of the toy experiment, their runs and the multi-seed verdict.

A run starts from a base pretrained with ``RECIPE`` (one seed: its initialisation and its
data order). Every arm then reads the same new documents of the same world, and is measured
on the same probe (``knowledge``): the attribute values of freshly worded biographies.

- ``up-scaled``: SOLAR's recipe, DUS with m = ``RECIPE.drop`` plus continued pretraining;
- ``further``: the base trained on the same new tokens, the baseline DUS must beat;
- ``further 1.5x``: the base on 1.5× those tokens, which costs what the deeper model's run costs;
- ``scratch``: the deeper shape from random weights on the same new tokens;
- ``scratch, compute-matched``: the deeper shape from random weights with the compute of base
  plus up-scaled run together (more steps of the base's kind of data);
- ``m=0``: the naive repeat (every layer twice), for the ablation over m.

The verdict (``verdict``) applies the criteria notebook 02 states: every seed's paired gain
(up-scaled minus further, same base, same tokens) is positive, the mean gain exceeds three
standard deviations of the per-seed gains, and it exceeds the spread of the bases across seeds.
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from transformers import LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from solar_lab import toy
from solar_lab.dus import depth_upscale
from solar_lab.knowledge import Probe, measure
from solar_lab.recipe import RECIPE, ToyRecipe
from solar_lab.training import causal_lm_loss, fit
from solar_lab.world import World


@dataclass
class Curve:
    """Knowledge measured during a run: facts loss (nats/token), facts accuracy and bits stored, by step."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    bits: list[float] = field(default_factory=list)
    skills: list[float] = field(default_factory=list)
    """Top-1 accuracy on the skill lines' answers."""

    def add(self, step: int, model: PreTrainedModel, probe: Probe, world: World) -> None:
        """Measure ``model`` on ``probe`` and record it as step ``step``."""
        known = measure(model, probe)
        self.steps.append(step)
        self.loss.append(round(known.facts_loss(world), 5))
        self.accuracy.append(round(known.facts_accuracy(world), 5))
        self.bits.append(round(known.bits(world)))
        skills = [accuracy for label, (_, accuracy) in known.by_label.items() if label not in world.vocabulary.values]
        self.skills.append(round(sum(skills) / len(skills), 5) if skills else float("nan"))

    def remeasure_last(self, model: PreTrainedModel, probe: Probe, world: World) -> None:
        """Measure the last step again, e.g. after the weights were rounded to the precision they ship in."""
        step = self.steps[-1]
        for values in (self.steps, self.loss, self.accuracy, self.bits, self.skills):
            values.pop()
        self.add(step, model, probe, world)


def pretrain(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data_seed: int, steps: int, lr: float,
             probe: Probe, measure_every: int, recipe: ToyRecipe = RECIPE, progress: bool = True,
             desc: str = "pretraining", on_measure: Callable[[Curve], None] | None = None) -> Curve:
    """Train ``model`` in place on ``steps`` batches of documents from ``data_seed``; its knowledge curve.

    Warm-up then the recipe's schedule; knowledge is measured before the first step, every
    ``measure_every`` steps and after the last; ``on_measure(curve)`` runs after each measurement.
    """
    batches = toy.training_blocks(tokenizer, data_seed, recipe)
    curve = Curve()

    def after_step(done: int) -> None:
        if done % measure_every == 0 or done == steps:
            curve.add(done, model, probe, toy.world(recipe))
            if on_measure is not None:
                on_measure(curve)

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=recipe.bf16):
            return causal_lm_loss(model, batch)

    fit(model, lambda: next(batches), loss_of, steps, lr=lr,
        warmup=min(recipe.warmup, steps // 10), schedule=recipe.schedule, weight_decay=recipe.weight_decay,
        desc=desc, progress=progress, after_step=after_step)
    return curve


def fresh_model(layers: int, seed: int, recipe: ToyRecipe = RECIPE) -> PreTrainedModel:
    """A toy model of ``layers`` layers with the initialisation of ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return LlamaForCausalLM(toy.toy_config(layers, recipe))


ARMS = ("up-scaled", "further", "further 1.5x", "scratch", "scratch, compute-matched", "m=0")
PAIRED = ("up-scaled", "further")
"""The two arms every seed must run; the others are reported beside them."""


@dataclass(frozen=True)
class Run:
    """What one arm trains, for how many steps, at which peak learning rate, on which documents."""

    model: PreTrainedModel
    steps: int
    lr: float
    data_seed: int


def prepare(arm: str, base: PreTrainedModel, seed: int, recipe: ToyRecipe = RECIPE) -> Run:
    """The run of ``arm`` after ``base`` (pretrained with ``seed``); ``base`` itself is left untouched."""
    new_tokens = recipe.new_data_seed(seed)
    deeper = recipe.upscaled_layers
    if arm == "up-scaled":
        return Run(depth_upscale(base, recipe.drop), recipe.cpt_steps, recipe.cpt_lr, new_tokens)
    if arm == "m=0":
        return Run(depth_upscale(base, 0), recipe.cpt_steps, recipe.cpt_lr, new_tokens)
    if arm == "further":
        return Run(copy.deepcopy(base), recipe.cpt_steps, recipe.cpt_lr, new_tokens)
    if arm == "further 1.5x":
        return Run(copy.deepcopy(base), recipe.cpt_steps * 3 // 2, recipe.cpt_lr, new_tokens)
    if arm == "scratch":
        return Run(fresh_model(deeper, 100 + seed, recipe), recipe.cpt_steps, recipe.base_lr, new_tokens)
    if arm == "scratch, compute-matched":  # the compute of the base's pretraining plus the up-scaled run
        steps = (recipe.layers * recipe.base_steps + deeper * recipe.cpt_steps) // deeper
        return Run(fresh_model(deeper, 100 + seed, recipe), steps, recipe.base_lr, recipe.base_data_seed(seed))
    raise ValueError(f"no arm {arm!r}; the arms are {', '.join(ARMS)}")


def run_arm(arm: str, base: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, seed: int, probe: Probe,
            measure_every: int, recipe: ToyRecipe = RECIPE, progress: bool = True,
            on_measure: Callable[[Curve], None] | None = None) -> tuple[PreTrainedModel, Curve]:
    """Prepare ``arm`` from ``base`` and train it; the trained model and its curve."""
    run = prepare(arm, base, seed, recipe)
    run.model.to(base.device)
    curve = pretrain(run.model, tokenizer, run.data_seed, run.steps, run.lr, probe, measure_every, recipe,
                     progress, desc=arm, on_measure=on_measure)
    return run.model, curve


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """The multi-seed criteria from ``{"seeds": {seed: {"base": curve, arm: curve, ...}}}`` (curves as dicts)."""
    seeds = results["seeds"]
    final = {seed: {arm: runs[arm]["accuracy"][-1] for arm in runs} for seed, runs in seeds.items()}
    final_loss = {seed: {arm: runs[arm]["loss"][-1] for arm in runs} for seed, runs in seeds.items()}
    gains = [final[seed]["up-scaled"] - final[seed]["further"] for seed in seeds]
    loss_gains = [final_loss[seed]["further"] - final_loss[seed]["up-scaled"] for seed in seeds]
    bases = [final[seed]["base"] for seed in seeds]
    mean = statistics.mean(gains)
    spread = statistics.stdev(gains) if len(gains) > 1 else None
    base_spread = statistics.stdev(bases) if len(bases) > 1 else None
    return {
        "gains": gains, "loss_gains": loss_gains, "mean_gain": mean, "gain_sd": spread, "base_sd": base_spread,
        "every_seed_gains": all(g > 0 for g in gains) and all(g > 0 for g in loss_gains),
        "mean_over_3_sd": spread is not None and mean > 3 * spread,
        "above_base_spread": base_spread is not None and mean > base_spread,
    }
