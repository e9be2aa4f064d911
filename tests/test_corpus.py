"""The synthetic corpus: reproducible, splits disjoint, and every document states true things."""

import re

import pytest

from solar_lab.corpus import KINDS, NAMES, make_corpus, is_held_out, world

FACTS = tuple(  # what a facts document states about a person (its name) and which World fields
    re.compile(pattern)
    for pattern in (
        r"(?P<name>\w+) lives in (?P<city>\w+) and works as a (?P<job>\w+)\.",
        r"Where does (?P<name>\w+) live\? (?P<city>\w+)\.",
        r"What is the job of (?P<name>\w+)\? (?P<job>\w+)\.",
        r"Which pet does (?P<name>\w+) have\? A (?P<pet>\w+)\.",
        r"Who has a (?P<pet>\w+) and lives in (?P<city>\w+)\? (?P<name>\w+)\.",
    )
)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(seed=3, train_chars=60_000)


@pytest.fixture(scope="module")
def parts():
    return {part: make_corpus(seed=3, train_chars=60_000, part=part) for part in (1, 2)}


def stated_world(documents: list[str]) -> dict[str, dict[str, str]]:
    """Each person's city, job and pet as the documents state them; fails on a contradiction."""
    stated: dict[str, dict[str, str]] = {"city": {}, "job": {}, "pet": {}}
    for text in documents:
        for pattern in FACTS:
            for found in pattern.finditer(text):
                name = found["name"]
                for field, value in found.groupdict().items():
                    if field != "name":
                        assert stated[field].setdefault(name, value) == value, f"{name}'s {field} contradicted: {text}"
    return stated


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
    w = world(3)
    lives = re.compile(r"(\w+) lives in (\w+) and works as a (\w+)\.")
    checked = 0
    for text in corpus.train:
        for name, city, job in lives.findall(text):
            assert (w.city[name], w.job[name]) == (city, job)
            checked += 1
    assert checked > 100


def test_world_is_the_world_make_corpus_states(corpus, parts):
    w = world(3)
    assert world(4) != w and world(3) == w
    for documents in (corpus.train + corpus.held_out, parts[1].train, parts[2].train):
        stated = stated_world(documents)
        assert all(set(stated[field]) == set(NAMES) for field in stated)  # every fact of everyone is stated
        assert stated == {"city": w.city, "job": w.job, "pet": w.pet}


def test_part_zero_is_the_default_corpus(corpus):
    again = make_corpus(seed=3, train_chars=60_000, part=0)
    assert (again.train, again.held_out) == (corpus.train, corpus.held_out)


def test_parts_are_other_documents_reproducibly(corpus, parts):
    assert parts[1].train != parts[2].train and parts[1].train != corpus.train
    assert len(set(parts[1].train) & set(parts[2].train)) < len(parts[1].train) / 2
    again = make_corpus(seed=3, train_chars=60_000, part=2)
    assert (again.train, again.held_out) == (parts[2].train, parts[2].held_out)
    assert make_corpus(seed=4, train_chars=60_000, part=2).train != parts[2].train
    assert 60_000 <= len(parts[1].text("train")) < 60_000 + 500


def test_held_out_documents_never_in_a_parts_training_split(corpus, parts):
    held_out = set(corpus.held_out).union(*(part.held_out for part in parts.values()))
    assert len(held_out) > 100 and all(is_held_out(text) for text in held_out)
    for part in parts.values():
        assert not held_out & set(part.train)
        assert not any(is_held_out(text) for text in part.train)


def test_negative_part_raises():
    with pytest.raises(ValueError, match="part must be 0 or more, got -1"):
        make_corpus(seed=3, train_chars=1_000, part=-1)


def test_rejects_empty_size():
    with pytest.raises(ValueError, match="train_chars"):
        make_corpus(train_chars=0)
