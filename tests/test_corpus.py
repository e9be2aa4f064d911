"""The synthetic corpus: reproducible, splits disjoint, biographies and skill lines true, spans right."""

import re
from itertools import islice

import pytest

from solar_lab.corpus import KINDS, SKILL_SHARE, SKILLS, documents, is_held_out, make_corpus
from solar_lab.world import World


@pytest.fixture(scope="module")
def world():
    return World.make(300, seed=3)


@pytest.fixture(scope="module")
def corpus(world):
    return make_corpus(world, seed=3, train_chars=200_000)


def test_same_seed_same_corpus_other_seed_other_corpus(world, corpus):
    again = make_corpus(world, seed=3, train_chars=200_000)
    other = make_corpus(world, seed=4, train_chars=200_000)
    assert (again.train, again.held_out) == (corpus.train, corpus.held_out)
    assert other.train != corpus.train


def test_splits_are_disjoint_and_sized(corpus):
    assert not set(corpus.train) & set(corpus.held_out)
    assert all(is_held_out(text) for text in corpus.held_out)
    assert not any(is_held_out(text) for text in corpus.train)
    assert 200_000 <= len(corpus.text("train")) < 200_000 + 500
    assert 0.05 < len(corpus.held_out) / (len(corpus.train) + len(corpus.held_out)) < 0.15


def test_text_rejects_unknown_split(corpus):
    with pytest.raises(ValueError, match="split"):
        corpus.text("test")


def test_mostly_biographies_and_every_skill(world, corpus):
    people = {p.name for p in world.people}
    biographies = [t for t in corpus.train if " ".join(t.split(" ")[:2]) in people]
    share = 1 - len(biographies) / len(corpus.train)
    assert abs(share - SKILL_SHARE) < 0.03
    text = corpus.text("train")
    assert "Look at this series" in text and " near the " in text and "faster than" in text and "How many" in text
    assert KINDS == ("biography", *SKILLS)


def test_every_biography_agrees_with_the_world(world, corpus):
    facts = {p.name: p.facts for p in world.people}
    checked = 0
    for text in corpus.train:
        name = " ".join(text.split(" ")[:2])
        if name in facts:
            for value in facts[name].values():
                assert f" {value}." in text
            checked += 1
    assert checked > 1000


def test_determined_spans_hold_the_answers(world):
    seen = set()
    for text, spans in islice(documents(world, 0), 3000):
        for span in spans:
            seen.add(span.label)
            answer = text[span.start:span.end]
            if span.label == "comparison":
                assert answer in ("Yes", "No") and text.endswith(f"? {answer}.")
            elif span.label in ("sequence", "word_problem"):
                assert re.fullmatch(r"-?\d+", answer) and text.endswith(f" {answer}.")
            elif span.label == "agreement":
                assert answer in ("They are", "It is")
                assert (answer == "They are") == (text.split(" ")[1] in {"keys", "dogs", "books", "cars", "birds",
                                                                           "lamps", "boxes", "children"})
    assert seen == set(SKILLS) | set(world.vocabulary.values)


def test_sequences_continue_both_progressions(world):
    found = 0
    for text, _ in islice(documents(world, 1), 5000):
        m = re.fullmatch(r"Look at this series: (.*), \.\.\. The next number is (-?\d+)\.", text)
        if m:
            terms = [int(x) for x in m[1].split(", ")]
            same_parity = terms[len(terms) % 2 :: 2]
            assert int(m[2]) == same_parity[-1] + (same_parity[-1] - same_parity[-2])
            found += 1
    assert found > 50


def test_comparison_answers_follow_transitivity(world):
    pattern = re.compile(r"(\w+) (?:runs faster|is taller|is older|swims faster|reads more) than (\w+)\.")
    question = re.compile(r"(?:Does|Is) (\w+) \w+(?: \w+)? than (\w+)\? (Yes|No)\.")
    found = 0
    for text, _ in islice(documents(world, 2), 8000):
        pairs = pattern.findall(text)
        q = question.search(text)
        if len(pairs) == 2 and q:
            (x1, y1), (x2, y2) = pairs
            order = [x2, x1, y1] if y2 == x1 else [x1, y1, y2]  # from most to least
            assert (order.index(q[1]) < order.index(q[2])) == (q[3] == "Yes")
            found += 1
    assert found > 50


def test_word_problems_are_right(world):
    found = 0
    for text, _ in islice(documents(world, 3), 8000):
        m = re.fullmatch(r"\w+ has (\d) \w+ and (finds|gives) (\d) (?:more|away)\. How many \w+ does \w+ have now\? (\d+)\.", text)
        if m:
            a, b, result = int(m[1]), int(m[3]), int(m[4])
            assert result == (a + b if m[2] == "finds" else a - b) and result >= 0
            found += 1
    assert found > 50


def test_documents_keep_to_their_split(world):
    assert all(is_held_out(text) for text, _ in islice(documents(world, 0, "held_out"), 200))
    assert not any(is_held_out(text) for text, _ in islice(documents(world, 0, "train"), 2000))
    with pytest.raises(ValueError, match="split"):
        next(documents(world, 0, "test"))


def test_rejects_empty_size(world):
    with pytest.raises(ValueError, match="train_chars"):
        make_corpus(world, train_chars=0)
