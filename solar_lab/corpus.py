"""A small synthetic corpus, made by code from a seed, on which depth can pay off.

Every line is one short document of one of five kinds. Each kind asks for a few steps
of computation before the next token is predictable, which is where extra layers help:

- ``facts``: a fixed little world (who lives where, who does what), stated and asked about;
- ``agreement``: the verb agrees with the subject, not with the noun next to it;
- ``arithmetic``: multi-digit sums and differences;
- ``sequence``: two interleaved progressions, like the article's "80, 10, 70, 15, 60, ...";
- ``comparison``: chains like "John runs faster than Ken", then a question answered by transitivity.

A line goes to the held-out split when a stable hash of its text says so, so a text can
never sit in both splits.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

KINDS = ("facts", "agreement", "arithmetic", "sequence", "comparison")
NAMES = (
    "John", "Ken", "Magnus", "Alice", "Maria", "Omar", "Yuki", "Lena", "Pedro", "Sara",
    "Ravi", "Nora", "Hugo", "Ines", "Tariq", "Mei", "Oscar", "Zoe", "Ivan", "Amara",
)
CITIES = ("Paris", "Seoul", "Lima", "Cairo", "Oslo", "Delhi", "Quito", "Rome", "Tokyo", "Accra")
JOBS = ("baker", "doctor", "pilot", "teacher", "farmer", "painter", "lawyer", "chef", "nurse", "singer")
PETS = ("cat", "dog", "parrot", "horse", "rabbit", "goat", "turtle", "fish")
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


@dataclass(frozen=True)
class World:
    """The facts every ``facts`` document agrees with: each person's city, job and pet."""

    city: dict[str, str]
    job: dict[str, str]
    pet: dict[str, str]

    @classmethod
    def make(cls, rng: random.Random) -> "World":
        return cls(
            city={name: rng.choice(CITIES) for name in NAMES},
            job={name: rng.choice(JOBS) for name in NAMES},
            pet={name: rng.choice(PETS) for name in NAMES},
        )


def facts(rng: random.Random, world: World) -> str:
    """Statements about one or two people, then a question about one of them."""
    people = rng.sample(NAMES, 2)
    statements = [
        f"{person} lives in {world.city[person]} and works as a {world.job[person]}."
        for person in people
    ]
    asked = rng.choice(people)
    question = rng.choice((
        f"Where does {asked} live? {world.city[asked]}.",
        f"What is the job of {asked}? {world.job[asked]}.",
        f"Which pet does {asked} have? A {world.pet[asked]}.",
        f"Who has a {world.pet[asked]} and lives in {world.city[asked]}? {asked}.",
    ))
    return " ".join(statements[: rng.randint(0, 2)] + [question])


def agreement(rng: random.Random) -> str:
    """A subject, a distracting noun of the other number, and a verb that must agree."""
    noun, place = rng.choice(NOUNS), rng.choice(PLACES)
    plural_subject = rng.random() < 0.5
    subject = noun[plural_subject]
    attractor = place[not plural_subject]
    verb = ("are", "were") if plural_subject else ("is", "was")
    pronoun = "They" if plural_subject else "It"
    adjective, other = rng.sample(ADJECTIVES, 2)
    return (
        f"The {subject} near the {attractor} {rng.choice(verb)} {adjective}. "
        f"{pronoun} {verb[0]} also {other}."
    )


def arithmetic(rng: random.Random) -> str:
    """One sum or difference of numbers with up to three digits."""
    a, b = rng.randint(0, 999), rng.randint(0, 999)
    if rng.random() < 0.5:
        return f"{a} + {b} = {a + b}."
    a, b = max(a, b), min(a, b)
    return f"{a} - {b} = {a - b}."


def sequence(rng: random.Random) -> str:
    """Two interleaved arithmetic progressions, then the number that comes next."""
    start_a, start_b = rng.randint(10, 99), rng.randint(1, 40)
    step_a, step_b = rng.choice((-10, -5, -3, -2, 2, 3, 5, 10)), rng.choice((-5, -2, 1, 2, 3, 5))
    length = rng.randint(6, 9)
    terms = [start_a + (i // 2) * step_a if i % 2 == 0 else start_b + (i // 2) * step_b for i in range(length + 1)]
    shown = ", ".join(str(term) for term in terms[:length])
    return f"Look at this series: {shown}, ... The next number is {terms[length]}."


@dataclass(frozen=True)
class Puzzle:
    """Two stated comparisons, a question about two of the three people, and its answer."""

    relation: str
    order: list[str]
    """The three people from the one the relation puts first (e.g. fastest) to the last."""
    stated: str
    question: str
    answer: bool


def comparison_puzzle(rng: random.Random) -> Puzzle:
    """Three people chained by one relation, stated in random order, and a yes/no question."""
    first, second, third = rng.sample(NAMES, 3)
    relation = rng.choice(RELATIONS)
    chain = [(second, first), (third, second)]
    rng.shuffle(chain)
    order = [third, second, first]
    a, b = rng.sample(order, 2)
    stated = " ".join(f"{x} {relation} {y}." for x, y in chain)
    question = RELATION_QUESTIONS[relation].format(a=a, b=b)
    return Puzzle(relation, order, stated, question, order.index(a) < order.index(b))


def comparison(rng: random.Random) -> str:
    """A chain of three people under one relation, then a yes/no question about two of them."""
    puzzle = comparison_puzzle(rng)
    return f"{puzzle.stated} {puzzle.question} {'Yes' if puzzle.answer else 'No'}."


def document(rng: random.Random, world: World) -> str:
    """One document of a randomly chosen kind."""
    kind = rng.choice(KINDS)
    if kind == "facts":
        return facts(rng, world)
    if kind == "agreement":
        return agreement(rng)
    return {"arithmetic": arithmetic, "sequence": sequence, "comparison": comparison}[kind](rng)


def is_held_out(text: str) -> bool:
    """The split a text belongs to, from a hash of the text alone (stable across runs)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def make_corpus(seed: int = 0, train_chars: int = 300_000) -> Corpus:
    """Documents drawn from ``seed`` until the training split holds ``train_chars`` characters.

    The world of facts is fixed by the seed too, so held-out questions ask about facts the
    training split states (learnable), in combinations it never saw.
    """
    if train_chars < 1:
        raise ValueError(f"train_chars must be positive, got {train_chars}")
    rng = random.Random(seed)
    world = World.make(rng)
    train: list[str] = []
    held_out: list[str] = []
    size = 0
    while size < train_chars:
        text = document(rng, world)
        if is_held_out(text):
            held_out.append(text)
        else:
            train.append(text)
            size += len(text) + 1
    return Corpus(train=train, held_out=held_out)
