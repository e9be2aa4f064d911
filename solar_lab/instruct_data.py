"""Instruction and preference data for the toy model, made by code from a seed.

Three kinds of question, each with an answer a reader can check:

- ``premise``: "How many eggs can a monkey lay in its lifetime?" Some questions rest on a
  false premise (monkeys lay no eggs, smartphones are not food). The preferred answer says
  so; the rejected one makes up a number. For questions with a true premise the preferred
  answer gives a number and the rejected one wrongly refuses.
- ``comparison``: the article's "John runs faster than Ken ..." puzzle; chosen answers
  Yes/No correctly, rejected answers the opposite.
- ``arithmetic``: like SOLAR's synthetic math alignment: chosen holds the right sum or
  difference, rejected a plausible wrong one.

Preference rows use TRL's column names (``prompt``, ``chosen``, ``rejected``) plus ``kind``;
instruction rows have ``prompt`` and ``response``. A prompt goes to the held-out split when
a hash of its text says so, so no held-out prompt appears in any training file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

from solar_lab.corpus import comparison_puzzle

INSTRUCTION_COLUMNS = ("prompt", "response")
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected", "kind")
KINDS = ("premise", "comparison", "arithmetic")
HELD_OUT_PERCENT = 15
FILES = {
    ("instruct", "train"): "instruct_train.jsonl",
    ("instruct", "held_out"): "instruct_held_out.jsonl",
    ("preference", "train"): "preference_train.jsonl",
    ("preference", "held_out"): "preference_held_out.jsonl",
}

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
ARITHMETIC_QUESTIONS = ("What is {a} {op} {b}?", "Compute {a} {op} {b}.", "How much is {a} {op} {b}?")


def is_held_out(prompt: str) -> bool:
    """Whether a prompt belongs to the held-out split (a stable hash of its text)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def article(word: str) -> str:
    """"a" or "an" before ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def egg_rows(rng: random.Random) -> list[dict[str, str]]:
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


def eat_rows(rng: random.Random) -> list[dict[str, str]]:
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


def comparison_row(rng: random.Random) -> dict[str, str]:
    """A transitivity puzzle in the corpus's words; chosen answers it, rejected flips it."""
    puzzle = comparison_puzzle(rng)
    top, middle, bottom = puzzle.order
    reason = f"{top} {puzzle.relation} {middle}, who {puzzle.relation} {bottom}."
    chosen = f"{'Yes' if puzzle.answer else 'No'}. {reason}"
    rejected = f"{'No' if puzzle.answer else 'Yes'}. {reason}"
    return _row(f"{puzzle.stated} {puzzle.question}", chosen, rejected, "comparison")


def arithmetic_row(rng: random.Random) -> dict[str, str]:
    """A sum or difference; rejected is off by 1, 10 or 100 (the slips people make)."""
    a, b = rng.randint(10, 999), rng.randint(10, 999)
    if rng.random() < 0.5:
        op, result = "+", a + b
    else:
        a, b = max(a, b), min(a, b)
        op, result = "-", a - b
    wrong = result + rng.choice((-100, -10, -1, 1, 10, 100))
    if wrong < 0:
        wrong = result + 10
    prompt = rng.choice(ARITHMETIC_QUESTIONS).format(a=a, op=op, b=b)
    return _row(prompt, f"{a} {op} {b} = {result}.", f"{a} {op} {b} = {wrong}.", "arithmetic")


def _row(prompt: str, chosen: str, rejected: str, kind: str) -> dict[str, str]:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "kind": kind}


def _unique(make: Callable[[random.Random], dict[str, str]], rng: random.Random, count: int) -> list[dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    while len(rows) < count:
        row = make(rng)
        rows.setdefault(row["prompt"], row)
    return list(rows.values())


def make_preferences(seed: int = 0, puzzles: int = 420) -> list[dict[str, str]]:
    """All preference pairs: premise questions, then ``puzzles`` comparisons and sums."""
    rng = random.Random(seed)
    return (
        egg_rows(rng)
        + eat_rows(rng)
        + _unique(comparison_row, rng, puzzles)
        + _unique(arithmetic_row, rng, puzzles)
    )


def make_instructions(seed: int = 1, puzzles: int = 600, corrected_every: int = 3) -> list[dict[str, str]]:
    """Instruction pairs (prompt -> the preferred answer).

    Most premise questions here have a true premise; false-premise ones are kept only for
    every ``corrected_every``-th animal or object, so instruction tuning shows the
    correcting answer but does not teach it everywhere: that is left to DPO.
    """
    rng = random.Random(seed)
    corrected = set(MAMMALS[::corrected_every] + NOT_FOOD[::corrected_every])
    premise = {
        row["prompt"]: row
        for row in egg_rows(rng) + eat_rows(rng)
        if not _false_premise_subject(row["prompt"]) or _false_premise_subject(row["prompt"]) in corrected
    }
    rows = list(premise.values()) + _unique(comparison_row, rng, puzzles) + _unique(arithmetic_row, rng, puzzles)
    return [{"prompt": row["prompt"], "response": row["chosen"]} for row in rows]


def _false_premise_subject(prompt: str) -> str | None:
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    found = words & set(MAMMALS + NOT_FOOD)
    return found.pop() if found else None


def split(rows: Iterable[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Rows divided into ``train`` and ``held_out`` by their prompt's hash."""
    parts: dict[str, list[dict[str, str]]] = {"train": [], "held_out": []}
    for row in rows:
        parts["held_out" if is_held_out(row["prompt"]) else "train"].append(row)
    return parts


def make_all(seed: int = 0) -> dict[str, list[dict[str, str]]]:
    """Every shipped file's rows, keyed by file name."""
    files = {}
    for name, rows in (("instruct", make_instructions(seed + 1)), ("preference", make_preferences(seed))):
        for part, part_rows in split(rows).items():
            files[FILES[(name, part)]] = part_rows
    return files


def shows_preference(row: dict[str, str], answer: str) -> bool:
    """Whether a generated ``answer`` behaves like the row's chosen one (the generation metric).

    premise: corrects the premise ("not", "cannot", "mammal") exactly when the chosen answer
    does, else gives a number;
    comparison: the same Yes/No; arithmetic: the same result after "=".
    """
    kind = row.get("kind")
    if kind == "premise":
        refusal = re.compile(r"\b(not|cannot|mammal)\b")
        should_refuse = refusal.search(row["chosen"]) is not None
        refuses = refusal.search(answer) is not None
        return refuses if should_refuse else not refuses and re.search(r"\d", answer) is not None
    if kind == "comparison":
        return answer.split(".")[0].strip() == row["chosen"].split(".")[0]
    if kind == "arithmetic":
        result = re.compile(r"=\s*(-?\d+)")
        found = result.search(answer)
        return found is not None and found.group(1) == result.search(row["chosen"]).group(1)
    raise ValueError(f"unknown preference kind {kind!r}; expected one of {', '.join(KINDS)}")


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    """Write one JSON object per line, atomically (temporary name, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def data_path(name: str, part: str) -> Path:
    """The shipped JSONL file for ``name`` ("instruct" or "preference") and ``part``."""
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
    """A shipped split, checked: ``load("preference", "held_out")``."""
    columns = INSTRUCTION_COLUMNS if name == "instruct" else PREFERENCE_COLUMNS
    return read_jsonl(data_path(name, part), columns)
