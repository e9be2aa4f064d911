"""The DUS experiment: each arm starts where it says, trains what it says, and the verdict applies the criteria."""

import dataclasses

import pytest
import torch

from solar_lab import dus_experiment, toy
from solar_lab.dus_experiment import ARMS, PAIRED, Curve, prepare, verdict
from solar_lab.recipe import RECIPE

TINY = dataclasses.replace(RECIPE, people=300, base_steps=6, cpt_steps=4, probe_documents=20, batch_size=2)


@pytest.fixture(scope="module")
def base():
    return dus_experiment.fresh_model(TINY.layers, seed=0, recipe=TINY)


def test_every_arm_starts_from_what_it_names(base):
    before = {name: tensor.clone() for name, tensor in base.state_dict().items()}
    runs = {arm: prepare(arm, base, seed=3, recipe=TINY) for arm in ARMS}
    layers = {arm: run.model.config.num_hidden_layers for arm, run in runs.items()}
    assert layers == {"up-scaled": 6, "further": 4, "further 1.5x": 4, "scratch": 6, "scratch, compute-matched": 6,
                      "m=0": 8}
    assert torch.equal(runs["up-scaled"].model.model.layers[3].mlp.up_proj.weight, base.model.layers[1].mlp.up_proj.weight)
    assert torch.equal(runs["further"].model.lm_head.weight, base.lm_head.weight)
    assert not torch.equal(runs["scratch"].model.lm_head.weight, base.lm_head.weight)
    assert torch.equal(runs["scratch"].model.lm_head.weight, runs["scratch, compute-matched"].model.lm_head.weight)
    assert [runs[a].steps for a in ARMS] == [4, 4, 6, 4, (4 * 6 + 6 * 4) // 6, 4]
    assert {runs[a].lr for a in ("scratch", "scratch, compute-matched")} == {TINY.base_lr}
    assert {runs[a].lr for a in ("up-scaled", "further", "further 1.5x", "m=0")} == {TINY.cpt_lr}
    assert {runs[a].data_seed for a in ARMS if a != "scratch, compute-matched"} == {TINY.new_data_seed(3)}
    assert runs["scratch, compute-matched"].data_seed == TINY.base_data_seed(3) != TINY.new_data_seed(3)
    assert all(torch.equal(before[name], tensor) for name, tensor in base.state_dict().items())
    assert set(PAIRED) <= set(ARMS)
    with pytest.raises(ValueError, match="no arm 'sideways'"):
        prepare("sideways", base, 0, TINY)


def test_pretrain_measures_at_the_start_every_few_steps_and_at_the_end(base):
    model = prepare("further", base, seed=0, recipe=TINY).model
    tokenizer = toy.load()[1]
    probe = toy.probe(tokenizer, TINY)
    seen = []
    curve = dus_experiment.pretrain(model, tokenizer, 5, 5, 1e-3, probe, measure_every=2, recipe=TINY,
                                    progress=False, on_measure=lambda c: seen.append(c.steps[-1]))
    assert curve.steps == seen == [0, 2, 4, 5]
    assert len(curve.accuracy) == len(curve.loss) == len(curve.bits) == len(curve.skills) == 4
    assert curve.loss[-1] < curve.loss[0]
    model.to(torch.bfloat16).float()
    curve.remeasure_last(model, probe, toy.world(TINY))
    assert curve.steps == [0, 2, 4, 5] and len(curve.loss) == 4


def _runs(base: list[float], up: list[float], further: list[float]) -> dict:
    curve = lambda accuracy: {"accuracy": [0.0, accuracy], "loss": [5.0, 5.0 - accuracy]}
    return {"seeds": {str(s): {"base": curve(b), "up-scaled": curve(u), "further": curve(f)}
                      for s, (b, u, f) in enumerate(zip(base, up, further))}}


def test_verdict_applies_the_three_criteria():
    clear = verdict(_runs([0.50, 0.51, 0.49], [0.60, 0.61, 0.60], [0.55, 0.56, 0.55]))
    assert clear["gains"] == pytest.approx([0.05, 0.05, 0.05])
    assert clear["every_seed_gains"] and clear["mean_over_3_sd"] and clear["above_base_spread"]
    noisy = verdict(_runs([0.50, 0.51, 0.49], [0.60, 0.56, 0.62], [0.55, 0.555, 0.55]))
    assert noisy["every_seed_gains"] and not noisy["mean_over_3_sd"]
    one_loses = verdict(_runs([0.50, 0.51, 0.49], [0.60, 0.54, 0.60], [0.55, 0.55, 0.55]))
    assert not one_loses["every_seed_gains"]
    spread_bases = verdict(_runs([0.30, 0.50, 0.70], [0.61, 0.61, 0.61], [0.60, 0.60, 0.60]))
    assert spread_bases["mean_over_3_sd"] and not spread_bases["above_base_spread"]
    single = verdict(_runs([0.5], [0.6], [0.55]))
    assert single["gain_sd"] is None and not single["mean_over_3_sd"] and not single["above_base_spread"]


def test_curve_is_plain_data():
    curve = Curve()
    assert dataclasses.asdict(curve) == {"steps": [], "loss": [], "accuracy": [], "bits": [], "skills": []}
