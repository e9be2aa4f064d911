"""Measuring knowledge: the probe finds every determined token, and the scores are what they claim."""

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from solar_lab.corpus import SKILLS, make_corpus
from solar_lab.knowledge import Knowledge, make_probe, measure
from solar_lab.tokenizer import load_tokenizer, save_tokenizer, train_sentencepiece
from solar_lab.world import World


@pytest.fixture(scope="module")
def world():
    return World.make(300, seed=5)


@pytest.fixture(scope="module")
def tokenizer(world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer(train_sentencepiece(make_corpus(world, seed=0, train_chars=600_000).train, 3072), folder)
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def probe(world, tokenizer):
    return make_probe(world, tokenizer, 300, seed=11)


def test_probe_finds_each_value_as_one_token_and_every_skill_answer(world, tokenizer, probe):
    values = {attribute: set(words) for attribute, words in world.vocabulary.values.items()}
    labels = set(probe.labels)
    assert set(world.vocabulary.values) <= labels and labels <= set(world.vocabulary.values) | set(SKILLS)
    for row, position, label in zip(probe.rows.tolist(), probe.positions.tolist(), probe.labels):
        piece = tokenizer.decode([probe.ids[row, position].item()]).strip()
        if label in values:
            assert piece in values[label]
        assert position >= 1  # always predicted from something: <s> comes first
    assert sum(label in values for label in probe.labels) == 5 * sum(
        1 for row in range(len(probe.ids)) if any(probe.labels[i] in values for i in (probe.rows == row).nonzero()[:, 0]))


def test_probe_refuses_a_tokenizer_that_splits_values(world, tmp_path):
    save_tokenizer(train_sentencepiece(make_corpus(world, seed=0, train_chars=50_000).train, 700), tmp_path)
    with pytest.raises(ValueError, match="splits the value .* larger vocabulary"):
        make_probe(world, load_tokenizer(tmp_path), 20, seed=0)


def test_measure_equals_a_direct_computation(world, tokenizer, probe):
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=256)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    known = measure(model, probe, batch_size=7)
    with torch.no_grad():
        logits = model(input_ids=probe.ids).logits
    predicted = logits[probe.rows, probe.positions - 1]
    targets = probe.ids[probe.rows, probe.positions]
    losses = torch.nn.functional.cross_entropy(predicted, targets, reduction="none")
    assert known.loss == pytest.approx(losses.mean().item(), rel=1e-5)
    assert known.accuracy == pytest.approx((predicted.argmax(-1) == targets).float().mean().item())
    city = torch.tensor([label == "city" for label in probe.labels])
    assert known.by_label["city"][0] == pytest.approx(losses[city].mean().item(), rel=1e-5)


def test_bits_count_what_a_model_pays_less_than_guessing(world):
    attributes = world.vocabulary.values
    guessing = Knowledge(0.0, 0.0, {a: (math.log(len(v)), 0.0) for a, v in attributes.items()})
    certain = Knowledge(0.0, 1.0, {a: (0.0, 1.0) for a in attributes})
    worse_than_guessing = Knowledge(0.0, 0.0, {a: (10.0, 0.0) for a in attributes})
    assert guessing.bits(world) == pytest.approx(0.0, abs=1e-9)
    assert certain.bits(world) == pytest.approx(world.bits())
    assert worse_than_guessing.bits(world) == 0.0
    assert certain.facts_accuracy(world) == 1.0 and guessing.facts_loss(world) == pytest.approx(
        sum(math.log(len(v)) for v in attributes.values()) / len(attributes))
