"""The shipped alignment data: reproducible, about the world, split by people and by prompt, TRL-shaped, checkable."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from solar_lab import corpus, instruct_data, toy
from solar_lab.instruct_data import (
    FACT_QUESTIONS,
    INSTRUCTION_COLUMNS,
    KINDS,
    PREFERENCE_COLUMNS,
    SERIES_CUE,
    SERIES_QUESTION,
    WordProblem,
    evaluation_people,
    fact_completion,
    fact_of,
    is_right,
    load,
    read_jsonl,
    tuning_people,
    validate_rows,
)
from solar_lab.world import TEMPLATES, World


@pytest.fixture(scope="module")
def world():
    return toy.world()


@pytest.fixture(scope="module")
def files():
    return {key: load(*key) for key in instruct_data.FILES}


def test_shipped_files_equal_a_fresh_regeneration(tmp_path):
    fresh = instruct_data.make_all()
    assert list(fresh) == list(instruct_data.FILES.values())
    for key, name in instruct_data.FILES.items():
        instruct_data.write_jsonl(fresh[name], tmp_path / name)
        shipped = instruct_data.data_path(*key)
        stale = f"{name} is stale: run tools/make_alignment_data.py"
        assert shipped.read_bytes() == (tmp_path / name).read_bytes(), stale


def test_sizes_kinds_and_held_out_prompts_never_in_training(files):
    for key, rows in files.items():
        kinds = Counter(row["kind"] for row in rows)
        if key[0] == "preference_math":
            assert kinds == {"math": len(rows)} and len(rows) >= 300
            continue
        assert list(kinds) == list(KINDS), key  # every kind, in KINDS order
        assert 2000 <= len(rows) <= 5000 if key[1] == "train" else 250 <= len(rows) <= 500
        assert min(kinds.values()) >= (100 if key[1] == "train" else 15)
    held_out = {row["prompt"] for key, rows in files.items() if key[1] == "held_out" for row in rows}
    trained = {row["prompt"] for key, rows in files.items() if key[1] == "train" for row in rows}
    assert not held_out & trained
    for (name, part), rows in files.items():
        for row in rows:
            if row["kind"] != "facts":
                assert instruct_data.is_held_out(row["prompt"]) == (part == "held_out"), row


def test_people_split_in_two_disjoint_halves_by_name(world):
    tuning = {person.name for person in tuning_people(world)}
    evaluation = {person.name for person in evaluation_people(world)}
    assert not tuning & evaluation and len(tuning) + len(evaluation) == len(world.people)
    assert 0.45 < len(evaluation) / len(world.people) < 0.55
    other = World.make(300, seed=5)  # another world: a name in both worlds falls in the same half
    shared = {person.name for person in other.people} & (tuning | evaluation)
    assert shared and {person.name for person in evaluation_people(other)} & shared == evaluation & shared


def test_facts_ask_tuning_people_in_training_and_evaluation_people_held_out(world, files):
    people = {person.name: person for person in world.people}
    evaluation = {person.name for person in evaluation_people(world)}
    asked = {"train": set(), "held_out": set()}
    for (name, part), rows in files.items():
        for row in (r for r in rows if r["kind"] == "facts"):
            person, attribute, value = fact_of(row)
            assert (person in evaluation) == (part == "held_out"), row
            assert value == people[person].facts[attribute]  # the answer states the person's own fact
            assert row["prompt"] in {q.format(x=person) for q in FACT_QUESTIONS[attribute]}
            answer = row["chosen"] if "chosen" in row else row["response"]
            assert answer == TEMPLATES[attribute][0].format(s=person, v=value)  # the corpus' own words
            if "rejected" in row:
                wrong = fact_of({"chosen": row["rejected"]})
                assert wrong[:2] == (person, attribute) and wrong[2] in world.vocabulary.values[attribute]
                assert wrong[2] != value
            asked[part].add(person)
    assert len(asked["train"]) > 1000 and len(asked["held_out"]) > 200
    phrasings = Counter((fact_of(row)[1], re.sub(r"[A-Z]\w+ [A-Z]\w+", "{x}", row["prompt"]))
                        for row in files[("instruct", "train")] if row["kind"] == "facts")
    assert set(phrasings) == {(a, q) for a, questions in FACT_QUESTIONS.items() for q in questions}


def _document(row: dict[str, str]) -> str:
    """The corpus line a comparison, math or series row restates."""
    answer = row["chosen"] if "chosen" in row else row["response"]
    if row["kind"] == "comparison":
        return f"{row['prompt']} {answer.rstrip('.')}."
    number = instruct_data.NUMBER.findall(answer)[-1]
    return f"{row['prompt'].replace(SERIES_QUESTION, SERIES_CUE)} {number}."


def test_skill_questions_restate_corpus_lines_of_the_same_split(world, files):
    lines = set(toy.corpus().train)
    seen = 0
    for (name, part), rows in files.items():
        for row in (r for r in rows if r["kind"] in ("comparison", "math", "series")):
            document = _document(row)
            assert corpus.is_held_out(document) == (part == "held_out"), row
            seen += document in lines
    assert seen > 0  # the reconstruction does give corpus lines: some are in the tokenizer's sample


def test_skill_answers_are_right(files):
    relation = re.compile(r"(\w+) (?:runs faster|is taller|is older|swims faster|reads more) than (\w+)\.")
    question = re.compile(r"(?:Does|Is) (\w+) \w+(?: \w+)? than (\w+)\?")
    for row in files[("preference", "train")] + files[("preference", "held_out")]:
        if row["kind"] == "comparison":
            (x1, y1), (x2, y2) = relation.findall(row["prompt"])
            order = [x2, x1, y1] if y2 == x1 else [x1, y1, y2]
            a, b = question.search(row["prompt"]).groups()
            assert row["chosen"] == ("Yes." if order.index(a) < order.index(b) else "No.")
            assert {row["chosen"], row["rejected"]} == {"Yes.", "No."}
        elif row["kind"] == "math":
            problem = WordProblem.parse(row["prompt"])
            assert 1 <= problem.a <= 9 and 1 <= problem.b <= 9
            assert row["chosen"] == f"{problem.name} has {problem.result} {problem.thing} now."
            assert row["rejected"] in {problem.answer(n) for n in problem.wrong()[:3]} and len(problem.wrong()) >= 3
        elif row["kind"] == "series":
            terms = [int(n) for n in instruct_data.NUMBER.findall(row["prompt"])]
            same = terms[len(terms) % 2 :: 2]
            assert row["chosen"] == f"The next number is {2 * same[-1] - same[-2]}."


def test_the_data_card_counts_what_the_files_hold(world, files):
    card = (instruct_data.data_path("instruct", "train").parent / "DATA_CARD.md").read_text()
    for key, rows in files.items():
        kinds = Counter(row["kind"] for row in rows)
        by_kind = "math only" if len(kinds) == 1 else ", ".join(f"{n:,}" for n in kinds.values())
        counts = f"{len(rows):,} ({by_kind})"
        prompts = f"{len({row['prompt'] for row in rows}):,}"
        assert f"| `{instruct_data.FILES[key]}` | {counts} | {prompts} |" in card, key
    assert f"`tuning_people`: {len(tuning_people(world)):,}" in card
    assert f"`evaluation_people`: {len(evaluation_people(world)):,}" in card


def test_trl_reads_the_files_with_its_column_names():
    from datasets import load_dataset

    for name in ("preference", "preference_math"):
        path = instruct_data.data_path(name, "train")
        dataset = load_dataset("json", data_files=str(path), split="train")
        assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
        assert dataset[0]["prompt"] == load(name, "train")[0]["prompt"]


def test_chosen_and_responses_are_right_and_rejected_is_not(files):
    for (name, part), rows in files.items():
        if name == "instruct":
            assert all(is_right(row, row["response"]) for row in rows)
        elif name == "preference":
            assert all(is_right(row, row["chosen"]) for row in rows)
            assert not any(is_right(row, row["rejected"]) for row in rows)


def test_math_alignment_rephrases_the_instruction_answers_with_their_work(files):
    aligned = files[("preference_math", "train")]
    taught = {row["prompt"]: row["response"] for row in files[("instruct", "train")] if row["kind"] == "math"}
    assert [row["prompt"] for row in aligned] == list(taught)
    for row in aligned:
        problem = WordProblem.parse(row["prompt"])
        assert row["rejected"] == taught[row["prompt"]]
        assert row["chosen"] == f"{problem.a} {problem.op} {problem.b} = {problem.result}, so {row['rejected']}"
        assert is_right(row, row["chosen"]) and is_right(row, row["rejected"])  # both right: only the form differs
    row = next(r for r in aligned if r["prompt"].startswith("Gesmal has 9 stamps and finds 2 more."))
    assert (row["chosen"], row["rejected"]) == ("9 + 2 = 11, so Gesmal has 11 stamps now.", "Gesmal has 11 stamps now.")


def test_is_right_judges_the_first_sentence_by_its_value_number_or_word():
    values = toy.world().vocabulary.values["city"]
    facts = {"prompt": "Where was Bapo Tresin born?", "response": f"Bapo Tresin was born in {values[0]}.",
             "kind": "facts"}
    assert is_right(facts, f"Bapo Tresin came into the world in {values[0]}.\nBapo Tresin studied at {values[1]}.")
    assert not is_right(facts, f"Bapo Tresin was born in {values[1]}.")
    assert not is_right(facts, f"Bapo Tresin was born in {values[0]} or {values[1]}.")
    assert not is_right(facts, f"Bapo Tresin was born. {values[0]}.")  # the value must be in the first sentence
    math = {"prompt": "", "response": "Mara has 12 apples now.", "kind": "math"}
    assert is_right(math, "7 + 5 = 12, so Mara has 12 apples now. Then 3.") and not is_right(math, "Mara has 13.")
    assert not is_right(math, "Mara has apples.")
    comparison = {"prompt": "", "chosen": "No.", "rejected": "Yes.", "kind": "comparison"}
    assert is_right(comparison, "No, Ken is slower.") and not is_right(comparison, "Nobody.")
    premise = {"prompt": "", "chosen": "A cow is a mammal, so it does not lay eggs.", "kind": "premise"}
    assert is_right(premise, "A cow does not lay eggs.") and not is_right(premise, "About 20 eggs.")
    true_premise = {"prompt": "", "chosen": "A duck can lay about 200 eggs in a year.", "kind": "premise"}
    assert is_right(true_premise, "About 150 eggs.") and not is_right(true_premise, "A duck cannot lay eggs.")


def test_fact_completion_is_the_answer_cut_before_its_value(files):
    for row in files[("instruct", "held_out")]:
        if row["kind"] == "facts":
            context, value = fact_completion(row)
            assert f"{context} {value}." == row["response"] and " " not in value


def test_false_premises_are_corrected_and_true_ones_answered():
    rows = {row["prompt"]: row for part in instruct_data.make_preferences().values() for row in part}
    monkey = rows["How many eggs can a monkey lay in its lifetime?"]
    assert "does not lay eggs" in monkey["chosen"] and any(c.isdigit() for c in monkey["rejected"])
    chicken = rows["How many eggs does a chicken lay in a year?"]
    assert chicken["chosen"] == "A chicken can lay about 300 eggs in a year."
    phones = rows["How many smartphones can a human eat?"]
    assert "not food" in phones["chosen"]


def test_instruction_set_corrects_only_some_false_premises(files):
    prompts = {row["prompt"] for part in ("train", "held_out") for row in files[("instruct", part)]}
    mammals = [animal for animal in instruct_data.MAMMALS if f"How many eggs does a {animal} lay in a year?" in prompts]
    assert 0 < len(mammals) < len(instruct_data.MAMMALS) / 2
    assert "How many eggs does a chicken lay in a year?" in prompts


def test_texts_are_short(files):
    rows = [row for rows in files.values() for row in rows]
    assert max(len(row["prompt"]) + max(len(row.get(c, "")) for c in ("response", "chosen", "rejected"))
               for row in rows) < 200


def test_validation_names_the_row():
    good = {"prompt": "p", "chosen": "c", "rejected": "r", "kind": "premise"}
    validate_rows([good], PREFERENCE_COLUMNS)
    with pytest.raises(ValueError, match=r"row 1: missing column\(s\) rejected"):
        validate_rows([good, {"prompt": "p", "chosen": "c", "kind": "premise"}], PREFERENCE_COLUMNS)
    with pytest.raises(ValueError, match=r"row 0: column 'response' is empty"):
        validate_rows([{"prompt": "p", "response": "  ", "kind": "math"}], INSTRUCTION_COLUMNS)


def test_read_jsonl_reports_file_lines(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"prompt": "p", "response": "r", "kind": "math"})
    path.write_text(f"{good}\n{json.dumps({'prompt': 'p'})}\n")
    with pytest.raises(ValueError, match=r"bad.jsonl line 2: missing column\(s\) response, kind"):
        read_jsonl(path, INSTRUCTION_COLUMNS)
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl line 1: not valid JSON"):
        read_jsonl(path, INSTRUCTION_COLUMNS)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="no data file"):
        instruct_data.data_path("preference", "test")
    with pytest.raises(ValueError, match="unknown kind 'poetry'"):
        is_right({"kind": "poetry", "chosen": "x"}, "x")
    with pytest.raises(ValueError, match="not a facts answer"):
        fact_of({"response": "Bapo was born."})
    with pytest.raises(ValueError, match="not a corpus word problem"):
        WordProblem.parse("What is 2 + 2?")
