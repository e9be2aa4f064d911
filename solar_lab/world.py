"""A world of people and their facts: the knowledge the toy model must store, counted in bits.

Each person has a first and a last name (the first name fixes the pronoun) and one value of
each attribute: birth city, university, employer, job and hobby. A biography states all five
facts of one person in a shuffled order, each with one of several templates, naming the
person in full or by pronoun. Drawn again, the same person's biography reads differently
but says the same things: that variety is what makes facts extractable later by questions
(Allen-Zhu & Li, *Physics of Language Models, Part 3.1*).

Everything in a biography is random except the values: the order, the templates and the
pronoun-or-name choices are noise a model cannot learn, while each value is fixed by the
world. So what a model knows shows in how well it predicts the value tokens. The world holds
``people × Σ log2 |values|`` bits; a model of P parameters can store at most about 2·P bits
(Allen-Zhu & Li, *Part 3.3*), so a world larger than that cannot be held whole.

Names and values are made-up words built from syllables, so no model has met them before and
every value is one token of the toy tokenizer.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

SEED = 0
"""Seed of the words and of the shipped world."""
ATTRIBUTE_SIZES = {"city": 200, "university": 100, "employer": 200, "job": 64, "hobby": 64}
"""How many values each attribute can take."""
JOBS = (
    "baker", "banker", "barber", "brewer", "builder", "butcher", "carpenter", "cashier", "chemist",
    "clerk", "cook", "courier", "dancer", "dentist", "designer", "doctor", "driver", "farmer",
    "fisher", "florist", "gardener", "geologist", "guard", "guide", "jeweler", "judge", "lawyer",
    "librarian", "locksmith", "magician", "manager", "mason", "mechanic", "miner", "musician",
    "nurse", "painter", "pharmacist", "photographer", "physicist", "pilot", "plumber", "poet",
    "potter", "printer", "professor", "ranger", "reporter", "roofer", "sailor", "scientist",
    "sculptor", "singer", "soldier", "surgeon", "tailor", "teacher", "translator", "tutor",
    "veterinarian", "waiter", "weaver", "welder", "writer",
)
"""Jobs start with a consonant, so "a" before the job gives nothing away."""
HOBBIES = (
    "archery", "baking", "ballet", "birdwatching", "bowling", "boxing", "calligraphy", "camping",
    "canoeing", "chess", "climbing", "cooking", "crochet", "cycling", "darts", "diving", "drawing",
    "fencing", "fishing", "gardening", "golf", "hiking", "hockey", "juggling", "karate", "kayaking",
    "knitting", "pottery", "painting", "photography", "poetry", "puzzles", "quilting", "reading",
    "rowing", "rugby", "running", "sailing", "sculpting", "sewing", "singing", "skating", "skiing",
    "snorkeling", "soccer", "surfing", "swimming", "tennis", "volleyball", "weaving", "woodworking",
    "yoga", "badminton", "baseball", "basketball", "cricket", "dancing", "embroidery", "gymnastics",
    "judo", "origami", "sketching", "stargazing", "wrestling",
)
TEMPLATES = {
    "city": ("{s} was born in {v}.", "{s} came into the world in {v}.", "{s} spent {p} early years in {v}."),
    "university": ("{s} studied at {v}.", "{s} graduated from {v}.", "{s} earned a degree at {v}."),
    "employer": ("{s} works for {v}.", "{s} is employed by {v}.", "{s} earns a salary from {v}."),
    "job": ("{s} works as a {v}.", "{s} earns a living as a {v}.", "{s} has a career as a {v}."),
    "hobby": ("{s} enjoys {v}.", "{s} spends free time on {v}.", "{s} has a passion for {v}."),
}
"""Three ways to state each fact: ``{s}`` the subject, ``{p}`` its possessive, ``{v}`` the value."""
PRONOUNS = {"she": ("She", "her"), "he": ("He", "his")}
FIRST_NAMES = 160
"""First names per pronoun."""
LAST_NAMES = 200


def made_up_words(count: int, rng: random.Random, syllables: int, taken: set[str]) -> list[str]:
    """``count`` distinct capitalised words of ``syllables`` syllables not already in ``taken``."""
    onsets = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr")
    vowels = ("a", "e", "i", "o", "u")
    codas = ("", "", "n", "r", "l", "s")
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables))
        word = word.capitalize()
        if word.lower() not in taken:
            taken.add(word.lower())
            words.append(word)
    return words


@dataclass(frozen=True)
class Vocabulary:
    """The words a world is made of: names by pronoun, last names, and each attribute's values."""

    first_names: dict[str, tuple[str, ...]]
    last_names: tuple[str, ...]
    values: dict[str, tuple[str, ...]]

    @classmethod
    def make(cls, seed: int = SEED) -> "Vocabulary":
        rng = random.Random(seed)
        taken = {word for words in (JOBS, HOBBIES) for word in words}
        taken |= {word.strip("{}.,'").lower() for forms in TEMPLATES.values() for form in forms for word in form.split()}
        first = {pronoun: tuple(made_up_words(FIRST_NAMES, rng, 2, taken)) for pronoun in PRONOUNS}
        last = tuple(made_up_words(LAST_NAMES, rng, 2, taken))
        values = {attribute: tuple(made_up_words(size, rng, 2, taken))
                  for attribute, size in ATTRIBUTE_SIZES.items() if attribute not in ("job", "hobby")}
        values |= {"job": JOBS, "hobby": HOBBIES}
        return cls(first, last, {attribute: values[attribute] for attribute in ATTRIBUTE_SIZES})


@dataclass(frozen=True)
class Person:
    """One person of the world: a full name, a pronoun and one value per attribute."""

    first: str
    last: str
    pronoun: str
    facts: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of a document that the world determines, and what they are (``label``)."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class World:
    """Everybody's facts, drawn once from a seed."""

    people: tuple[Person, ...]
    vocabulary: Vocabulary

    @classmethod
    def make(cls, size: int, seed: int = SEED) -> "World":
        """``size`` people with distinct full names and independent, uniformly drawn facts."""
        vocabulary = Vocabulary.make(SEED)
        names = [(pronoun, first, last) for pronoun, firsts in vocabulary.first_names.items()
                 for first in firsts for last in vocabulary.last_names]
        if not 1 <= size <= len(names):
            raise ValueError(f"a world holds 1 to {len(names)} people, not {size}")
        rng = random.Random(seed)
        people = tuple(
            Person(first, last, pronoun, {attribute: rng.choice(values) for attribute, values in vocabulary.values.items()})
            for pronoun, first, last in rng.sample(names, size)
        )
        return cls(people, vocabulary)

    @property
    def first_names(self) -> tuple[str, ...]:
        """Every first name the world's vocabulary has, of either pronoun."""
        return tuple(name for names in self.vocabulary.first_names.values() for name in names)

    def bits(self) -> float:
        """The knowledge in the world: people × Σ log2 |values|."""
        return len(self.people) * sum(math.log2(len(values)) for values in self.vocabulary.values.values())


def biography(person: Person, rng: random.Random) -> tuple[str, list[Span]]:
    """All facts of ``person`` in a random order, each in a random template; the text and where each value sits."""
    attributes = list(person.facts)
    rng.shuffle(attributes)
    subject, possessive = PRONOUNS[person.pronoun]
    sentences: list[str] = []
    facts: list[Span] = []
    offset = 0
    for index, attribute in enumerate(attributes):
        by_name = index == 0 or rng.random() < 0.5
        template = rng.choice(TEMPLATES[attribute])
        head, tail = template.split("{v}")
        head = head.format(s=person.name if by_name else subject, p=possessive)
        if sentences:
            offset += 1  # the space between sentences
        start = offset + len(head)
        facts.append(Span(attribute, start, start + len(person.facts[attribute])))
        sentence = head + person.facts[attribute] + tail
        sentences.append(sentence)
        offset += len(sentence)
    return " ".join(sentences), facts


