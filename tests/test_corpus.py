"""The synthetic corpus: reproducible, splits disjoint, and every document states true things."""

import re

import pytest

from solar_lab.corpus import KINDS, World, make_corpus, is_held_out
import random


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(seed=3, train_chars=60_000)


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
    again = make_corpus(seed=3, train_chars=60_000)
    other = make_corpus(seed=4, train_chars=60_000)
    assert (again.train, again.held_out) == (corpus.train, corpus.held_out)
    assert other.train != corpus.train


def test_splits_are_disjoint_and_sized(corpus):
    assert not set(corpus.train) & set(corpus.held_out)
    assert all(is_held_out(text) for text in corpus.held_out)
    assert not any(is_held_out(text) for text in corpus.train)
    assert 60_000 <= len(corpus.text("train")) < 60_000 + 500
    assert 0.05 < len(corpus.held_out) / (len(corpus.train) + len(corpus.held_out)) < 0.15


def test_text_rejects_unknown_split(corpus):
    with pytest.raises(ValueError, match="split"):
        corpus.text("test")


def test_every_kind_appears(corpus):
    text = corpus.text("train")
    assert " + " in text and " - " in text  # arithmetic
    assert "Look at this series" in text  # sequence
    assert "faster than" in text  # comparison
    assert " near the " in text  # agreement
    assert "lives in" in text  # facts
    assert len(KINDS) == 5


def test_arithmetic_is_correct(corpus):
    sums = [re.fullmatch(r"(\d+) ([+-]) (\d+) = (-?\d+)\.", t) for t in corpus.train]
    sums = [m for m in sums if m]
    assert len(sums) > 100
    for m in sums:
        a, op, b, result = int(m[1]), m[2], int(m[3]), int(m[4])
        assert result == (a + b if op == "+" else a - b) and result >= 0


def test_sequences_continue_both_progressions(corpus):
    found = 0
    for text in corpus.train:
        m = re.fullmatch(r"Look at this series: (.*), \.\.\. The next number is (-?\d+)\.", text)
        if m:
            terms = [int(x) for x in m[1].split(", ")]
            same_parity = terms[len(terms) % 2 :: 2]
            assert int(m[2]) == same_parity[-1] + (same_parity[-1] - same_parity[-2])
            found += 1
    assert found > 100


def test_comparison_answers_follow_transitivity(corpus):
    pattern = re.compile(r"(\w+) (?:runs faster|is taller|is older|swims faster|reads more) than (\w+)\.")
    question = re.compile(r"(?:Does|Is) (\w+) \w+(?: \w+)? than (\w+)\? (Yes|No)\.")
    found = 0
    for text in corpus.train:
        pairs = pattern.findall(text)
        q = question.search(text)
        if len(pairs) == 2 and q:
            (x1, y1), (x2, y2) = pairs
            order = [x2, x1, y1] if y2 == x1 else [x1, y1, y2]  # from most to least
            assert (order.index(q[1]) < order.index(q[2])) == (q[3] == "Yes")
            found += 1
    assert found > 100


def test_facts_agree_with_one_world(corpus):
    world = World.make(random.Random(3))
    lives = re.compile(r"(\w+) lives in (\w+) and works as a (\w+)\.")
    checked = 0
    for text in corpus.train:
        for name, city, job in lives.findall(text):
            assert (world.city[name], world.job[name]) == (city, job)
            checked += 1
    assert checked > 100


def test_rejects_empty_size():
    with pytest.raises(ValueError, match="train_chars"):
        make_corpus(train_chars=0)
