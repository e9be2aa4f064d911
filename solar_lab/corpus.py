"""The toy corpus: biographies of a world's people, plus a few skills, made by code from a seed.

Most documents are biographies (``solar_lab.world``): the knowledge a model must store, and
the reason a deeper model can do better than a shallow one that is full. A small share are
skills the later notebooks ask about, each a line whose last words follow from the rest:

- ``comparison``: "Ruta runs faster than Toma. Bel runs faster than Ruta. Does Toma run faster
  than Bel? No." (transitivity, like the article's question);
- ``agreement``: the verb agrees with the subject, not with the noun next to it;
- ``sequence``: two interleaved progressions, like the article's "80, 10, 70, 15, 60, ...";
- ``word_problem``: one step of adding or taking away, with one-digit numbers.

A document goes to the held-out split when a stable hash of its text says so, so a text can
never sit in both splits; held-out biographies are new wordings of facts the training split
states.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Iterator

from solar_lab.world import Span, World, biography

Line = tuple[str, list[Span]]
"""A document and the spans of it that the world determines (values, answers)."""

SKILLS = ("comparison", "agreement", "sequence", "word_problem")
KINDS = ("biography", *SKILLS)
SKILL_SHARE = 0.1
"""Fraction of documents that are skill lines (the rest are biographies)."""
NOUNS = (("key", "keys"), ("dog", "dogs"), ("book", "books"), ("car", "cars"), ("bird", "birds"),
         ("lamp", "lamps"), ("box", "boxes"), ("child", "children"))
PLACES = (("cabinet", "cabinets"), ("table", "tables"), ("window", "windows"), ("house", "houses"),
          ("tree", "trees"), ("garden", "gardens"))
ADJECTIVES = ("red", "old", "small", "heavy", "quiet", "new", "broken", "bright")
RELATIONS = ("runs faster than", "is taller than", "is older than", "swims faster than", "reads more than")
RELATION_QUESTIONS = {
    "runs faster than": "Does {a} run faster than {b}?",
    "is taller than": "Is {a} taller than {b}?",
    "is older than": "Is {a} older than {b}?",
    "swims faster than": "Does {a} swim faster than {b}?",
    "reads more than": "Does {a} read more than {b}?",
}
THINGS = ("apples", "books", "coins", "stamps", "shells", "marbles", "pencils", "cards")
HELD_OUT_PERCENT = 10


@dataclass(frozen=True)
class Corpus:
    """Two disjoint lists of one-line documents."""

    train: list[str]
    held_out: list[str]

    def text(self, split: str) -> str:
        """A split as one newline-separated string."""
        if split not in ("train", "held_out"):
            raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
        return "\n".join(getattr(self, split)) + "\n"


def answered(text: str, answer: str, label: str) -> Line:
    """``text`` ending in ``answer`` and a full stop, with the answer's span labelled ``label``."""
    line = f"{text}{answer}."
    return line, [Span(label, len(text), len(text) + len(answer))]


def agreement(rng: random.Random) -> Line:
    """A subject, a distracting noun of the other number, then a pronoun and verb that must agree with it."""
    noun, place = rng.choice(NOUNS), rng.choice(PLACES)
    plural_subject = rng.random() < 0.5
    subject = noun[plural_subject]
    attractor = place[not plural_subject]
    verb = ("are", "were") if plural_subject else ("is", "was")
    pronoun = "They" if plural_subject else "It"
    adjective, other = rng.sample(ADJECTIVES, 2)
    first = f"The {subject} near the {attractor} {rng.choice(verb)} {adjective}. "
    return f"{first}{pronoun} {verb[0]} also {other}.", [Span("agreement", len(first), len(first) + len(pronoun) + 1 + len(verb[0]))]


def sequence(rng: random.Random) -> Line:
    """Two interleaved arithmetic progressions, then the number that comes next."""
    start_a, start_b = rng.randint(10, 99), rng.randint(1, 40)
    step_a, step_b = rng.choice((-10, -5, -3, -2, 2, 3, 5, 10)), rng.choice((-5, -2, 1, 2, 3, 5))
    length = rng.randint(6, 9)
    terms = [start_a + (i // 2) * step_a if i % 2 == 0 else start_b + (i // 2) * step_b for i in range(length + 1)]
    shown = ", ".join(str(term) for term in terms[:length])
    return answered(f"Look at this series: {shown}, ... The next number is ", str(terms[length]), "sequence")


@dataclass(frozen=True)
class Puzzle:
    """Two stated comparisons, a question about two of the three people, and its answer."""

    relation: str
    order: list[str]
    """The three people from the one the relation puts first (e.g. fastest) to the last."""
    stated: str
    question: str
    answer: bool


def comparison_puzzle(rng: random.Random, names: tuple[str, ...]) -> Puzzle:
    """Three of ``names`` chained by one relation, stated in random order, and a yes/no question."""
    first, second, third = rng.sample(names, 3)
    relation = rng.choice(RELATIONS)
    chain = [(second, first), (third, second)]
    rng.shuffle(chain)
    order = [third, second, first]
    a, b = rng.sample(order, 2)
    stated = " ".join(f"{x} {relation} {y}." for x, y in chain)
    question = RELATION_QUESTIONS[relation].format(a=a, b=b)
    return Puzzle(relation, order, stated, question, order.index(a) < order.index(b))


def comparison(rng: random.Random, names: tuple[str, ...]) -> Line:
    """A chain of three people under one relation, then a yes/no question about two of them."""
    puzzle = comparison_puzzle(rng, names)
    return answered(f"{puzzle.stated} {puzzle.question} ", "Yes" if puzzle.answer else "No", "comparison")


def word_problem(rng: random.Random, names: tuple[str, ...]) -> Line:
    """One person, a one-digit count of things, one more step, and the count after it."""
    name, thing = rng.choice(names), rng.choice(THINGS)
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    if rng.random() < 0.5:
        story, result = f"{name} has {a} {thing} and finds {b} more.", a + b
    else:
        a, b = max(a, b), min(a, b)
        story, result = f"{name} has {a} {thing} and gives {b} away.", a - b
    return answered(f"{story} How many {thing} does {name} have now? ", str(result), "word_problem")


def document(rng: random.Random, world: World) -> Line:
    """One document: a biography of a random person, or (``SKILL_SHARE`` of the time) a skill line."""
    if rng.random() >= SKILL_SHARE:
        return biography(rng.choice(world.people), rng)
    kind = rng.choice(SKILLS)
    if kind == "agreement":
        return agreement(rng)
    if kind == "sequence":
        return sequence(rng)
    names = world.first_names
    return comparison(rng, names) if kind == "comparison" else word_problem(rng, names)


def is_held_out(text: str) -> bool:
    """The split a text belongs to, from a hash of the text alone (stable across runs)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def documents(world: World, seed: int, split: str = "train") -> Iterator[Line]:
    """Endless documents of one split, drawn from ``seed``, with their determined spans."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    rng = random.Random(seed)
    while True:
        line = document(rng, world)
        if is_held_out(line[0]) == (split == "held_out"):
            yield line


def make_corpus(world: World, seed: int = 0, train_chars: int = 300_000) -> Corpus:
    """Documents drawn from ``seed`` until the training split holds ``train_chars`` characters."""
    if train_chars < 1:
        raise ValueError(f"train_chars must be positive, got {train_chars}")
    rng = random.Random(seed)
    train: list[str] = []
    held_out: list[str] = []
    size = 0
    while size < train_chars:
        text, _ = document(rng, world)
        if is_held_out(text):
            held_out.append(text)
        else:
            train.append(text)
            size += len(text) + 1
    return Corpus(train=train, held_out=held_out)
