"""Instruction and preference data for the toy model: questions about its world and its skills.

Five kinds of question, each with an answer that ``is_right`` can check:

- ``facts``: one attribute of one person of the world (``solar_lab.world``), in four phrasings
  per attribute ("Where was Bapo Tresin born?", "What is Bapo Tresin's hometown?"), answered
  in one sentence in the corpus' own words ("Bapo Tresin was born in Velis."); rejected: the
  same sentence with another value of that attribute.
- ``premise``: the article's "How many eggs can a monkey lay in its lifetime?". A false
  premise (monkeys lay no eggs, smartphones are not food) is corrected by the chosen answer
  while the rejected one makes up a number; a true premise gets a number, and the rejected
  answer wrongly refuses.
- ``comparison``: the article's "John runs faster than Ken ..." with the world's first names;
  chosen "Yes." or "No.", rejected the other.
- ``math``: the corpus' one-step word problems with one-digit numbers, as questions; chosen
  gives the right number in a sentence ("Mara has 12 apples now."), rejected a plausible wrong one.
- ``series``: the corpus' interleaved series ("Look at this series: 80, 10, 70, 15, 60, ...
  What number should come next?"); chosen "The next number is 20.", rejected a plausible
  wrong number.

**Splits.** The world's people fall into two halves by a hash of the full name: training rows
ask only about ``tuning_people``, held-out rows only about ``evaluation_people``, so answering
a held-out question means extracting what pretraining stored (Allen-Zhu & Li, *Physics of
Language Models, Part 3.1*). Other prompts are held out when a hash of their text says so
(``is_held_out``). A comparison, math or series question restates a corpus line and is kept
only where that line sits in the same split of the corpus (``split_of``), so a held-out
question was never a pretraining document either.

**Math alignment** (``math_alignment``): SOLAR's Synth. Math-Alignment in miniature, for the
second DPO candidate. For each training math prompt, chosen is the answer rephrased with its
work ("7 + 5 = 12, so Mara has 12 apples now."), rejected the instruction data's own answer.

Rows use TRL's column names: preference rows ``prompt``, ``chosen``, ``rejected``, ``kind``;
instruction rows ``prompt``, ``response``, ``kind``. Prompts are plain questions; SOLAR's
template (``solar_lab.prompt.solar_prompt``) is applied when they are trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

from solar_lab import corpus, toy
from solar_lab.world import PRONOUNS, TEMPLATES, Person, World

INSTRUCTION_COLUMNS = ("prompt", "response", "kind")
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected", "kind")
KINDS = ("facts", "premise", "comparison", "math", "series")
PARTS = ("train", "held_out")
HELD_OUT_PERCENT = 15
FILES = {
    ("instruct", "train"): "instruct_train.jsonl",
    ("instruct", "held_out"): "instruct_held_out.jsonl",
    ("preference", "train"): "preference_train.jsonl",
    ("preference", "held_out"): "preference_held_out.jsonl",
    ("preference_math", "train"): "preference_math_train.jsonl",
}
INSTRUCTION_SIZES = {"facts": (2500, 150), "comparison": (400, 50), "math": (400, 50), "series": (400, 50)}
PREFERENCE_SIZES = {"facts": (1000, 150), "comparison": (300, 50), "math": (300, 50), "series": (300, 50)}
"""(training, held-out) rows of each drawn kind; premise questions are a fixed list, split by their hash."""

FACT_QUESTIONS = {
    "city": ("Where was {x} born?", "In which city was {x} born?", "What is {x}'s hometown?",
             "Which city does {x} come from?"),
    "university": ("Which university did {x} attend?", "Where did {x} study?",
                   "Which university did {x} graduate from?", "Where did {x} earn a degree?"),
    "employer": ("Who employs {x}?", "Which company does {x} work for?", "Where does {x} work?",
                 "Who pays {x}'s salary?"),
    "job": ("What does {x} do for a living?", "What is {x}'s job?", "What is {x}'s occupation?",
            "What work does {x} do?"),
    "hobby": ("What is {x}'s hobby?", "What does {x} do for fun?", "How does {x} spend free time?",
              "What is {x} passionate about?"),
}
"""Questions about one attribute of the person ``{x}``; each is answered with the attribute's first template."""
FACT_ANSWERS = {
    attribute: re.compile(re.escape(forms[0]).replace(r"\{s\}", r"(\w+ \w+)").replace(r"\{v\}", r"(\w+)"))
    for attribute, forms in TEMPLATES.items()
}
SERIES_CUE = "The next number is"
SERIES_QUESTION = "What number should come next?"
WORD_PROBLEM = re.compile(r"(\w+) has (\d+) (\w+) and (finds|gives) (\d+) (?:more|away)\. "
                          r"How many \3 does \1 have now\?")
NUMBER = re.compile(r"-?[0-9]+")
REFUSAL = re.compile(r"\b(not|cannot|mammal)\b")

MAMMALS = (
    "monkey", "cow", "dog", "cat", "horse", "sheep", "pig", "goat", "rabbit", "mouse", "lion",
    "tiger", "bear", "whale", "dolphin", "elephant", "giraffe", "zebra", "fox", "wolf", "deer",
    "camel", "donkey", "hamster",
)
EGG_LAYERS = {  # eggs a year: round, illustrative numbers, not zoology
    "chicken": 300, "duck": 200, "goose": 40, "turkey": 100, "ostrich": 50, "pigeon": 12,
    "parrot": 8, "owl": 4, "turtle": 100, "frog": 2000, "snake": 20, "crocodile": 50,
    "penguin": 2, "swan": 6, "lizard": 10, "quail": 250,
}
NOT_FOOD = (
    "smartphones", "chairs", "rocks", "cars", "shoes", "books", "keys", "coins", "bricks",
    "laptops", "spoons", "tables", "candles", "bottles", "pencils", "tires", "lamps", "clocks",
    "nails", "hammers",
)
FOODS = {  # how many in a day: illustrative
    "apples": 4, "bananas": 5, "eggs": 3, "cookies": 10, "carrots": 6, "grapes": 100,
    "pancakes": 8, "oranges": 5, "potatoes": 4, "tomatoes": 6, "sandwiches": 3, "muffins": 4,
    "plums": 8, "peaches": 4, "strawberries": 40,
}
EGG_QUESTIONS = (
    ("How many eggs can {a} {x} lay in its lifetime?", "in its lifetime", 5),
    ("How many eggs does {a} {x} lay in a year?", "in a year", 1),
    ("How many eggs can {a} {x} lay in ten years?", "in ten years", 10),
)
EAT_QUESTIONS = (
    "How many {x} can a human eat?",
    "How many {x} can a person eat in a day?",
    "How many {x} can you eat for lunch?",
)

Row = dict[str, str]
Drawn = tuple[Row, str | None]
"""A row and its part: ``"train"``, ``"held_out"``, or None when it belongs to neither."""


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def is_held_out(prompt: str) -> bool:
    """Whether a prompt (of any kind but ``facts``) belongs to the held-out split (a stable hash of its text)."""
    return _hash(prompt) % 100 < HELD_OUT_PERCENT


def split_of(prompt: str, document: str | None = None) -> str | None:
    """A prompt's part by ``is_held_out``; None when the corpus line it restates (``document``) is in the other one."""
    held = is_held_out(prompt)
    if document is not None and corpus.is_held_out(document) != held:
        return None
    return "held_out" if held else "train"


def is_evaluation_person(person: Person) -> bool:
    """Whether ``person`` is in the half asked about only in evaluation (a stable hash of the full name)."""
    return _hash(person.name) % 2 == 1


def tuning_people(world: World) -> tuple[Person, ...]:
    """The people whose facts instruction and preference training ask about."""
    return tuple(person for person in world.people if not is_evaluation_person(person))


def evaluation_people(world: World) -> tuple[Person, ...]:
    """The other half: the people every held-out question and evaluation item about facts asks about."""
    return tuple(person for person in world.people if is_evaluation_person(person))


def article(word: str) -> str:
    """"a" or "an" before ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def _row(prompt: str, chosen: str, rejected: str, kind: str) -> Row:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "kind": kind}


# --- facts ------------------------------------------------------------------------------


def statement(
    person: Person, attribute: str, template: str | None = None, value: str | None = None
) -> tuple[str, str]:
    """A corpus sentence stating one fact by full name, cut before the value: ("Bapo Tresin was born in", "Velis.").

    ``template`` is one of the attribute's ``TEMPLATES`` (the first unless given); ``value``
    replaces the person's own.
    """
    head, tail = (template or TEMPLATES[attribute][0]).split("{v}")
    return head.format(s=person.name, p=PRONOUNS[person.pronoun][1]).rstrip(), (value or person.facts[attribute]) + tail


def fact_row(rng: random.Random, world: World) -> Drawn:
    """A question about one fact of a random person; held out exactly when the person is an evaluation person."""
    person = rng.choice(world.people)
    attribute = rng.choice(tuple(person.facts))
    wrong = rng.choice([value for value in world.vocabulary.values[attribute] if value != person.facts[attribute]])
    prompt = rng.choice(FACT_QUESTIONS[attribute]).format(x=person.name)
    chosen, rejected = (" ".join(statement(person, attribute, value=value)) for value in (None, wrong))
    return _row(prompt, chosen, rejected, "facts"), "held_out" if is_evaluation_person(person) else "train"


def fact_of(row: Row) -> tuple[str, str, str]:
    """(full name, attribute, value) of the fact a ``facts`` row's answer states."""
    for attribute, pattern in FACT_ANSWERS.items():
        found = pattern.fullmatch(_answer(row))
        if found:
            return found[1], attribute, found[2]
    raise ValueError(f"not a facts answer: {_answer(row)!r}")


def fact_completion(row: Row) -> tuple[str, str]:
    """A ``facts`` row as the corpus would state it, cut before the value: ("Bapo Tresin was born in", "Velis")."""
    name, attribute, value = fact_of(row)
    return TEMPLATES[attribute][0].split("{v}")[0].format(s=name).rstrip(), value


# --- skills: questions restating corpus lines ----------------------------------------------


@dataclass(frozen=True)
class SkillLine:
    """A corpus skill line: ``context`` (the text before its answer), then " ``answer``." ends ``document``."""

    document: str
    context: str
    answer: str

    @classmethod
    def of(cls, line: corpus.Line) -> SkillLine:
        text, (span,) = line
        return cls(text, text[: span.start].rstrip(), text[span.start : span.end])


@dataclass(frozen=True)
class WordProblem:
    """A one-step word problem: ``name`` has ``a`` ``thing`` and adds or takes away ``b`` (``op``)."""

    question: str
    name: str
    thing: str
    a: int
    op: str
    b: int

    @classmethod
    def parse(cls, question: str) -> WordProblem:
        found = WORD_PROBLEM.fullmatch(question)
        if found is None:
            raise ValueError(f"not a corpus word problem: {question!r}")
        name, a, thing, step, b = found.groups()
        return cls(question, name, thing, int(a), "+" if step == "finds" else "-", int(b))

    @property
    def result(self) -> int:
        return self.a + self.b if self.op == "+" else self.a - self.b

    def answer(self, number: int | None = None) -> str:
        """The answer in a sentence: "Mara has 12 apples now." (``number`` replaces the result)."""
        return f"{self.name} has {self.result if number is None else number} {self.thing} now."

    def work(self) -> str:
        """The answer with its work: "7 + 5 = 12, so Mara has 12 apples now."."""
        return f"{self.a} {self.op} {self.b} = {self.result}, so {self.answer()}"

    def wrong(self) -> list[int]:
        """Plausible wrong results, most plausible first: the other operation, a step skipped, off by one or more."""
        other = self.a - self.b if self.op == "+" else self.a + self.b
        candidates = (other, self.a, self.b, self.result + 1, self.result - 1, self.result + 2, self.result + 3)
        return [n for n in _distinct_wrong(candidates, self.result) if n >= 0]


def word_problem(rng: random.Random, names: tuple[str, ...]) -> tuple[WordProblem, str]:
    """A corpus word problem as a question, and the corpus line it restates."""
    line = SkillLine.of(corpus.word_problem(rng, names))
    return WordProblem.parse(line.context), line.document


@dataclass(frozen=True)
class Series:
    """Two interleaved progressions (``terms``) and the number that comes next."""

    context: str
    """The corpus line before its answer: "Look at this series: 80, 10, 70, ... The next number is"."""
    terms: tuple[int, ...]
    answer: int

    @property
    def question(self) -> str:
        return self.context.replace(SERIES_CUE, SERIES_QUESTION)

    def wrong(self) -> list[int]:
        """Plausible wrong next numbers: the other progression continued, a step skipped or missed, off by one."""
        t, gold = self.terms, self.answer
        return _distinct_wrong((2 * t[-1] - t[-3], 2 * gold - t[-2], t[-2], t[-1], gold + 1, gold - 1), gold)


def series(rng: random.Random) -> tuple[Series, str]:
    """A corpus series as a question, and the corpus line it restates."""
    line = SkillLine.of(corpus.sequence(rng))
    terms = tuple(int(n) for n in NUMBER.findall(line.context))
    return Series(line.context, terms, int(line.answer)), line.document


def _distinct_wrong(candidates: Iterable[int], right: int) -> list[int]:
    return [n for n in dict.fromkeys(candidates) if n != right]


def comparison_row(rng: random.Random, world: World) -> Drawn:
    """The corpus' transitivity puzzle as a question; chosen answers it, rejected flips it."""
    line = SkillLine.of(corpus.comparison(rng, world.first_names))
    other = "No" if line.answer == "Yes" else "Yes"
    return _row(line.context, f"{line.answer}.", f"{other}.", "comparison"), split_of(line.context, line.document)


def math_row(rng: random.Random, world: World) -> Drawn:
    """A corpus word problem; rejected states one of its three most plausible wrong results."""
    problem, document = word_problem(rng, world.first_names)
    rejected = problem.answer(rng.choice(problem.wrong()[:3]))
    return _row(problem.question, problem.answer(), rejected, "math"), split_of(problem.question, document)


def series_row(rng: random.Random, world: World) -> Drawn:
    """A corpus series; rejected states one of its four most plausible wrong next numbers."""
    question, document = series(rng)
    chosen, rejected = (f"{SERIES_CUE} {n}." for n in (question.answer, rng.choice(question.wrong()[:4])))
    return _row(question.question, chosen, rejected, "series"), split_of(question.question, document)


DRAWN_KINDS: dict[str, Callable[[random.Random, World], Drawn]] = {
    "facts": fact_row, "comparison": comparison_row, "math": math_row, "series": series_row,
}


# --- premise questions: a fixed list ---------------------------------------------------


def egg_rows(rng: random.Random) -> list[Row]:
    """Egg questions about mammals (false premise) and egg layers (true premise), two pairs each."""
    rows = []
    for template, span, years in EGG_QUESTIONS:
        for animal in MAMMALS:
            a = article(animal)
            prompt = template.format(a=a, x=animal)
            chosen = f"{a.capitalize()} {animal} is a mammal, so it does not lay eggs."
            for number in rng.sample(range(2, 400), 2):
                rows.append(_row(prompt, chosen, f"{a.capitalize()} {animal} can lay about {number} eggs {span}.", "premise"))
        for animal, per_year in EGG_LAYERS.items():
            a = article(animal)
            prompt = template.format(a=a, x=animal)
            chosen = f"{a.capitalize()} {animal} can lay about {per_year * years} eggs {span}."
            for refusal in (
                f"{a.capitalize()} {animal} is a mammal, so it does not lay eggs.",
                f"{a.capitalize()} {animal} does not lay eggs.",
            ):
                rows.append(_row(prompt, chosen, refusal, "premise"))
    return rows


def eat_rows(rng: random.Random) -> list[Row]:
    """Eating questions about things that are not food (false premise) and foods, two pairs each."""
    rows = []
    for template in EAT_QUESTIONS:
        for thing in NOT_FOOD:
            prompt = template.format(x=thing)
            chosen = f"{thing.capitalize()} are not food, so a human cannot eat them."
            for number in rng.sample(range(2, 60), 2):
                rows.append(_row(prompt, chosen, f"A human can eat about {number} {thing} in a day.", "premise"))
        for food, per_day in FOODS.items():
            prompt = template.format(x=food)
            chosen = f"A human can eat about {per_day} {food} in a day."
            for refusal in (
                f"{food.capitalize()} are not food, so a human cannot eat them.",
                f"A human cannot eat {food}.",
            ):
                rows.append(_row(prompt, chosen, refusal, "premise"))
    return rows


def _false_premise_subject(prompt: str) -> str | None:
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    found = words & set(MAMMALS + NOT_FOOD)
    return found.pop() if found else None


# --- the data sets ------------------------------------------------------------------------


def split(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Rows divided into ``train`` and ``held_out`` by their prompt's hash."""
    parts: dict[str, list[Row]] = {part: [] for part in PARTS}
    for row in rows:
        parts["held_out" if is_held_out(row["prompt"]) else "train"].append(row)
    return parts


def _draw(make: Callable[[random.Random, World], Drawn], rng: random.Random, world: World,
          counts: tuple[int, int]) -> dict[str, list[Row]]:
    """Rows of distinct prompts from ``make`` until the training and held-out parts hold ``counts`` rows."""
    wanted = dict(zip(PARTS, counts))
    parts: dict[str, dict[str, Row]] = {part: {} for part in PARTS}
    for _ in range(1000 * sum(counts)):
        row, part = make(rng, world)
        if part is not None and len(parts[part]) < wanted[part]:
            parts[part].setdefault(row["prompt"], row)
        if all(len(parts[part]) == wanted[part] for part in PARTS):
            return {part: list(rows.values()) for part, rows in parts.items()}
    raise RuntimeError(f"{make.__name__} found only {[len(rows) for rows in parts.values()]} of {counts} rows")


def _kinds(
    rng: random.Random, world: World, premise: list[Row], sizes: dict[str, tuple[int, int]]
) -> dict[str, list[Row]]:
    """Every kind's rows by part in ``KINDS`` order: the ``premise`` rows split by their hash, the others drawn."""
    parts: dict[str, list[Row]] = {part: [] for part in PARTS}
    for kind in KINDS:
        rows = split(premise) if kind == "premise" else _draw(DRAWN_KINDS[kind], rng, world, sizes[kind])
        for part in PARTS:
            parts[part] += rows[part]
    return parts


def make_preferences(world: World | None = None, seed: int = 0) -> dict[str, list[Row]]:
    """Preference pairs by part: facts, premise (two pairs per question), comparison, math, series."""
    rng = random.Random(seed)
    return _kinds(rng, world or toy.world(), egg_rows(rng) + eat_rows(rng), PREFERENCE_SIZES)


def make_instructions(world: World | None = None, seed: int = 1, corrected_every: int = 3) -> dict[str, list[Row]]:
    """Instruction pairs by part (prompt -> the preferred answer), every kind.

    Most premise questions here have a true premise; false-premise ones are kept only for
    every ``corrected_every``-th animal or object, so instruction tuning shows the
    correcting answer but does not teach it everywhere: that is left to DPO.
    """
    rng = random.Random(seed)
    corrected = set(MAMMALS[::corrected_every] + NOT_FOOD[::corrected_every])
    premise = {
        row["prompt"]: row
        for row in egg_rows(rng) + eat_rows(rng)
        if _false_premise_subject(row["prompt"]) in corrected | {None}
    }
    parts = _kinds(rng, world or toy.world(), list(premise.values()), INSTRUCTION_SIZES)
    return {part: [{"prompt": r["prompt"], "response": r["chosen"], "kind": r["kind"]} for r in rows]
            for part, rows in parts.items()}


def math_alignment(instructions: list[Row]) -> list[Row]:
    """SOLAR's math alignment for ``instructions``' math rows: chosen shows the work, rejected is the original."""
    rows = []
    for row in instructions:
        if row["kind"] == "math":
            rows.append(_row(row["prompt"], WordProblem.parse(row["prompt"]).work(), row["response"], "math"))
    return rows


def make_all(world: World | None = None, seed: int = 0) -> dict[str, list[Row]]:
    """Every shipped file's rows, keyed by file name."""
    instructions, preferences = make_instructions(world, seed + 1), make_preferences(world, seed)
    files = {FILES[("instruct", part)]: instructions[part] for part in PARTS}
    files |= {FILES[("preference", part)]: preferences[part] for part in PARTS}
    return files | {FILES[("preference_math", "train")]: math_alignment(instructions["train"])}


# --- judging answers -------------------------------------------------------------------


def _answer(row: Row) -> str:
    """The row's right answer: ``chosen`` of a preference row, ``response`` of an instruction row."""
    return row["chosen"] if "chosen" in row else row["response"]


def first_sentence(text: str) -> str:
    """The text up to its first sentence end or line break: what ``is_right`` judges."""
    return re.split(r"(?<=[.?!])\s|\n", text.strip(), maxsplit=1)[0]


def is_right(row: Row, answer: str) -> bool:
    """Whether a generated ``answer`` to ``row``'s prompt is right, judged on its first sentence.

    facts: it names the person's value and no other value of that attribute;
    premise: it corrects the premise ("not", "cannot", "mammal") exactly when the row's answer
    does, and otherwise gives a number; comparison: the same Yes or No first;
    math and series: the same last number.
    """
    said, expected, kind = first_sentence(answer), _answer(row), row.get("kind")
    if kind == "facts":
        _, attribute, value = fact_of(row)
        words = set(re.findall(r"\w+", said))
        return value in words and not words & (set(toy.world().vocabulary.values[attribute]) - {value})
    if kind == "premise":
        should_refuse = REFUSAL.search(expected) is not None
        refuses = REFUSAL.search(said) is not None
        return refuses if should_refuse else not refuses and NUMBER.search(said) is not None
    if kind == "comparison":
        given = re.match(r"(Yes|No)\b", said)
        return given is not None and expected.startswith(given[1])
    if kind in ("math", "series"):
        numbers = NUMBER.findall(said)
        return bool(numbers) and numbers[-1] == NUMBER.findall(expected)[-1]
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


# --- files ------------------------------------------------------------------------------


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    """Write one JSON object per line, atomically (temporary name, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def data_path(name: str, part: str) -> Path:
    """The shipped JSONL file for ``name`` ("instruct", "preference" or "preference_math") and ``part``."""
    if (name, part) not in FILES:
        raise ValueError(f"no data file for {name!r}/{part!r}; choose from {sorted(FILES)}")
    return Path(str(resources.files("solar_lab.data").joinpath(FILES[(name, part)])))


def validate_rows(
    rows: list[dict[str, Any]], columns: tuple[str, ...], where: str = "row", start: int = 0
) -> None:
    """Raise ValueError naming the first row (``where`` and its number) that lacks a column or text."""
    for number, row in enumerate(rows, start=start):
        if not isinstance(row, dict):
            raise ValueError(f"{where} {number}: expected a JSON object, got {type(row).__name__}")
        missing = [column for column in columns if column not in row]
        if missing:
            raise ValueError(f"{where} {number}: missing column(s) {', '.join(missing)}; each row needs {', '.join(columns)}")
        for column in columns:
            if not isinstance(row[column], str) or not row[column].strip():
                raise ValueError(f"{where} {number}: column {column!r} is empty or not text")


def read_jsonl(path: str | Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Read a JSONL file and check every line has non-empty text in ``columns``."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} line {number}: not valid JSON ({error.msg})") from None
    validate_rows(rows, columns, where=f"{path} line", start=1)
    return rows


def load(name: str, part: str) -> list[dict[str, Any]]:
    """A shipped split, checked: ``load("preference", "held_out")``, ``load("preference_math", "train")``."""
    columns = INSTRUCTION_COLUMNS if name == "instruct" else PREFERENCE_COLUMNS
    return read_jsonl(data_path(name, part), columns)
