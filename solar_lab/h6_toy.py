"""H6 in miniature: six small held-out tasks in the toy world, scored as lm-evaluation-harness scores them.

The Open LLM Leaderboard's H6 is the mean of six benchmarks. Each has a namesake here, built
from the toy world and corpus (``solar_lab.world``, ``solar_lab.corpus``) and the instruction
data's questions (``solar_lab.instruct_data``), small enough to score the toy model in seconds:

============  =========================================================  ===========  ============
column        an item                                                    prompt       H6 metric
============  =========================================================  ===========  ============
ARC           a fact of an evaluation person: "Bapo Tresin was born      corpus text  acc_norm
              in" and four cities ("Velis." ...)
HellaSwag     the right ending of a document (agreement or a series)     corpus text  acc_norm
MMLU          4 options about facts, word problems, comparisons,         corpus text  acc
              grammar, answered with a letter ("Answer: B")
TruthfulQA    a false (or true) premise question; only one answer is     SOLAR chat   acc (MC1)
              true, the others are confident made-up numbers
Winogrande    a comparison puzzle whose question has a blank for one of  corpus text  acc
              two people; the rest of the sentence is scored, "taller
              than Ken? Yes." ("partial evaluation")
GSM8K         a word problem of one or two steps with one-digit          SOLAR chat   exact_match
              numbers, answered by greedy generation; the last number
              of the answer must equal the result
============  =========================================================  ===========  ============

**Scoring.** For a multiple-choice item every choice is appended to the context after a space
and the model's log-likelihood of the choice's tokens given the context is summed. ``acc`` is 1
when the choice with the highest log-likelihood is the gold one. Every token adds a negative
term, so long choices are penalised for their length: ``acc_norm`` first divides each
log-likelihood by the choice's length in characters (lm-eval's ``len(choice)``, without the
leading space). The two disagree when the right answer is the longer one and loses on total
log-likelihood but wins per character, or the other way round; ``disagreements`` finds such items.
lm-eval moves a context's trailing whitespace into the continuation, so with SOLAR's template
(which ends in a newline) every choice's log-likelihood also holds that newline's, the same
term for each choice. Winogrande's options sit in the contexts and all score one ending, so it
has ``acc`` only. GSM8K generates greedily until a newline and compares the last number with
the result.

**Prompts.** Every task is zero-shot (the leaderboard used 25, 10, 5, 0, 5 and 5 examples; the
toy's 256-token context has no room for them). ARC, HellaSwag, MMLU and Winogrande are plain
text in the corpus' own words, as lm-eval's defaults are plain text. TruthfulQA and GSM8K ask
the instruction data's kinds of question, so their prompt is SOLAR's template
(``solar_prompt``), the text an instruction-tuned SOLAR answers. The template is written into
each row's ``context`` column: lm-eval reads it as it is (no ``--apply_chat_template``), and
every stage of a model, base or tuned, sees the same text.

**Held out.** Every row keeps the text it was made from in ``source``: a document the corpus
could write (ARC, HellaSwag, MMLU, Winogrande) or a question prompt (TruthfulQA, GSM8K). A row
is kept only when that text falls in the held-out split of its module's hash split
(``corpus.is_held_out`` or ``instruct_data.is_held_out``), so no item is ever a training document
or a training prompt. Items about facts (ARC, MMLU's facts) ask only about the world's
evaluation people (``instruct_data.evaluation_people``), whose facts pretraining stated but
instruction tuning never asked about.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from solar_lab import corpus, instruct_data, toy
from solar_lab.leaderboard import TASKS as COLUMNS
from solar_lab.prompt import solar_prompt
from solar_lab.sft import greedy_batch
from solar_lab.world import TEMPLATES, Person, World

SEED = 0
"""Seed of the shipped tasks' draws; the world is the shipped one (``toy.world()``)."""
SIZES = {"ARC": 100, "HellaSwag": 100, "MMLU": 100, "Winogrande": 100, "GSM8K": 100}
"""Items per task; TruthfulQA holds every held-out premise question (its pool is finite)."""
FORMS = {  # column: (how it is scored, the metric the H6 column reports)
    "ARC": ("choice", "acc_norm"),
    "HellaSwag": ("choice", "acc_norm"),
    "MMLU": ("choice", "acc"),
    "TruthfulQA": ("choice", "acc"),
    "Winogrande": ("partial", "acc"),
    "GSM8K": ("generate", "exact_match"),
}
LETTERS = ("A", "B", "C", "D")
MMLU_TOPICS = {"facts": "the world", "word_problem": "arithmetic", "comparison": "comparisons", "agreement": "grammar"}
STOP = ("\n",)
"""GSM8K's stop sequences (lm-eval adds the end-of-sequence token itself)."""
MAX_NEW_TOKENS = 32
ANSWER = re.compile(r"(-?[0-9]+)")
"""GSM8K's answer extraction: the last integer in the generated text, like lm-eval's flexible-extract."""
INVALID = "[invalid]"
"""What the extraction gives when the answer holds no number (lm-eval's regex-filter fallback)."""


@dataclass(frozen=True)
class Task:
    """One H6 column in miniature: its rows and how they are scored."""

    name: str
    rows: list[dict[str, Any]]

    @property
    def output(self) -> str:
        """``choice`` (log-likelihood of each choice), ``partial`` (Winogrande) or ``generate``."""
        return FORMS[self.name][0]

    @property
    def metric(self) -> str:
        """The metric the H6 column reports: ``acc_norm``, ``acc`` or ``exact_match``."""
        return FORMS[self.name][1]

    @property
    def lm_eval_name(self) -> str:
        """The task's name in lm-eval (``h6_toy_arc``); its YAML and JSONL files carry it too."""
        return f"h6_toy_{self.name.lower()}"


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome, with what lm-eval logs per sample.

    For choice tasks ``loglikelihoods`` holds the summed log-probability of every choice and
    ``lengths`` its length in characters; ``acc_norm`` ranks by their ratio. For Winogrande
    every choice scores the same sentence ending, so there is no ``acc_norm`` (None). For GSM8K
    ``generation`` is the greedy answer and ``answer`` the number taken from it.
    """

    id: str
    gold: int | str
    loglikelihoods: list[float]
    lengths: list[int]
    acc: float | None = None
    acc_norm: float | None = None
    generation: str | None = None
    answer: str | None = None
    exact_match: float | None = None

    @property
    def chosen(self) -> int:
        """The choice with the highest log-likelihood (the first of equals, as ``np.argmax``)."""
        return max(range(len(self.loglikelihoods)), key=lambda i: (self.loglikelihoods[i], -i))

    @property
    def per_character(self) -> list[float]:
        """Each choice's log-likelihood divided by its length in characters: what ``acc_norm`` ranks."""
        return [ll / length for ll, length in zip(self.loglikelihoods, self.lengths)]

    @property
    def chosen_norm(self) -> int:
        """The choice with the highest log-likelihood per character."""
        per_char = self.per_character
        return max(range(len(per_char)), key=lambda i: (per_char[i], -i))


def choice_result(item_id: str, gold: int, loglikelihoods: list[float], choices: list[str] | None) -> ItemResult:
    """``acc`` and ``acc_norm`` of one item from its choices' log-likelihoods (lm-eval's rule).

    ``choices=None`` (Winogrande) gives ``acc`` alone.
    """
    result = ItemResult(item_id, gold, list(loglikelihoods), [len(choice) for choice in choices or ()])
    return replace(
        result, acc=float(result.chosen == gold), acc_norm=float(result.chosen_norm == gold) if choices else None
    )


def disagreements(results: list[ItemResult]) -> list[ItemResult]:
    """Items where ``acc`` and ``acc_norm`` differ: length normalisation changed the pick."""
    return [r for r in results if r.acc_norm is not None and r.acc != r.acc_norm]


# --- making the tasks ------------------------------------------------------------------


def _mc(context: str, options: list[str], gold: str, source: str, subject: str) -> dict[str, Any]:
    return {"subject": subject, "context": context, "choices": options, "gold": options.index(gold), "source": source}


def _other_values(rng: random.Random, world: World, attribute: str, value: str, count: int = 3) -> list[str]:
    return rng.sample([v for v in world.vocabulary.values[attribute] if v != value], count)


def arc_item(rng: random.Random, world: World, people: tuple[Person, ...]) -> dict[str, Any]:
    """A fact of one of ``people`` in the corpus' own form: a biography sentence up to the value, four values.

    "Bapo Tresin was born in" with "Velis.", "Tusgi.", ... as choices, all values of the same
    attribute: only a model that stored this person's fact in pretraining can pick the right one.
    """
    person = rng.choice(people)
    attribute = rng.choice(tuple(person.facts))
    template, value = rng.choice(TEMPLATES[attribute]), person.facts[attribute]
    context, gold = instruct_data.statement(person, attribute, template)
    options = [gold] + [instruct_data.statement(person, attribute, template, other)[1]
                        for other in _other_values(rng, world, attribute, value)]
    rng.shuffle(options)
    return _mc(context, options, gold, f"{context} {gold}", attribute)


AGREEMENT = re.compile(r"The (\w+) near the (\w+) (is|are|was|were) (\w+)\. (It|They) (is|are) also (\w+)\.")


def hellaswag_item(rng: random.Random, kind: str) -> dict[str, Any]:
    """A corpus document cut before its ending; the wrong endings break agreement or the series."""
    if kind == "agreement":
        source, _ = corpus.agreement(rng)
        subject, attractor, verb, adjective, _, _, other = AGREEMENT.fullmatch(source).groups()
        context = f"The {subject} near the {attractor}"
        past = verb in ("was", "were")
        endings = []
        for verb_plural, pronoun_plural in ((False, False), (False, True), (True, False), (True, True)):
            first = ("were" if verb_plural else "was") if past else ("are" if verb_plural else "is")
            pronoun, second = ("They", "are") if pronoun_plural else ("It", "is")
            endings.append(f"{first} {adjective}. {pronoun} {second} also {other}.")
        gold = source[len(context) + 1 :]
        rng.shuffle(endings)
        return _mc(context, endings, gold, source, kind)
    series, source = instruct_data.series(rng)
    numbers = [series.answer, *series.wrong()[:3]]
    rng.shuffle(numbers)
    return _mc(series.context, [f"{n}." for n in numbers], f"{series.answer}.", source, kind)


def mmlu_item(rng: random.Random, world: World, people: tuple[Person, ...], subject: str) -> dict[str, Any]:
    """A four-option question in MMLU's layout, answered with a letter."""
    if subject == "facts":
        person = rng.choice(people)
        attribute = rng.choice(tuple(person.facts))
        question = rng.choice(instruct_data.FACT_QUESTIONS[attribute]).format(x=person.name)
        gold = person.facts[attribute]
        options = [gold, *_other_values(rng, world, attribute, gold)]
        source = f"{question} {' '.join(instruct_data.statement(person, attribute))}"
    elif subject == "word_problem":
        problem, source = instruct_data.word_problem(rng, world.first_names)
        question, gold = problem.question, str(problem.result)
        options = [gold, *map(str, problem.wrong()[:3])]
    elif subject == "comparison":
        puzzle = corpus.comparison_puzzle(rng, world.first_names)
        top, middle, bottom = puzzle.order
        relation = puzzle.relation
        gold = f"{top} {relation} {bottom}"
        options = [gold] + [f"{x} {relation} {y}" for x, y in ((middle, top), (bottom, middle), (bottom, top))]
        question = f"{puzzle.stated} Which of these is true?"
        source = f"{puzzle.stated} {corpus.RELATION_QUESTIONS[relation].format(a=top, b=bottom)} Yes."
    else:
        source, _ = corpus.agreement(rng)
        noun, attractor, verb, adjective, *_ = AGREEMENT.fullmatch(source).groups()
        gold = "are" if verb in ("are", "were") else "is"
        question = f"Which word fills the blank? The {noun} near the {attractor} ___ {adjective}."
        options = ["is", "are", "am", "be"]
    rng.shuffle(options)
    lines = "".join(f"\n{letter}. {option}" for letter, option in zip(LETTERS, options))
    context = (
        f"The following are multiple choice questions (with answers) about {MMLU_TOPICS[subject]}.\n\n"
        f"{question}{lines}\nAnswer:"
    )
    return {"subject": subject, "context": context, "choices": list(LETTERS), "gold": options.index(gold), "source": source}


NEW_EGG_QUESTIONS = (  # phrasings the instruction data never uses: (template, span, years)
    ("How many eggs does {a} {x} lay in two years?", "in two years", 2),
    ("How many eggs can {a} {x} lay in twenty years?", "in twenty years", 20),
)
NEW_EAT_QUESTIONS = ("How many {x} can a person eat for dinner?", "How many {x} does a human eat in a day?")


def truthfulqa_items(rng: random.Random) -> list[dict[str, Any]]:
    """Every held-out premise question; one true answer, three confident false ones (MC1)."""
    rows = []
    for template, span, years in instruct_data.EGG_QUESTIONS + NEW_EGG_QUESTIONS:
        for animal in instruct_data.MAMMALS + tuple(instruct_data.EGG_LAYERS):
            a = instruct_data.article(animal)
            question = template.format(a=a, x=animal)
            lays = f"{a.capitalize()} {animal} can lay about {{}} eggs {span}."
            refusal = f"{a.capitalize()} {animal} is a mammal, so it does not lay eggs."
            per_year = instruct_data.EGG_LAYERS.get(animal)
            rows.append(_premise(rng, question, lays, refusal, per_year and per_year * years, range(2, 400)))
    for template in instruct_data.EAT_QUESTIONS + NEW_EAT_QUESTIONS:
        for thing in instruct_data.NOT_FOOD + tuple(instruct_data.FOODS):
            question = template.format(x=thing)
            eats = f"A human can eat about {{}} {thing} in a day."
            refusal = f"{thing.capitalize()} are not food, so a human cannot eat them."
            rows.append(_premise(rng, question, eats, refusal, instruct_data.FOODS.get(thing), range(2, 60)))
    return [row for row in rows if instruct_data.is_held_out(row["source"])]


def _premise(
    rng: random.Random, question: str, number_answer: str, refusal: str, true_number: int | None, numbers: range
) -> dict[str, Any]:
    """False premise: the refusal is true, made-up numbers false. True premise: the other way round."""
    if true_number is None:
        gold, wrong = refusal, [number_answer.format(n) for n in rng.sample(numbers, 3)]
    else:
        gold = number_answer.format(true_number)
        wrong = [refusal] + [number_answer.format(n) for n in rng.sample([n for n in numbers if n != true_number], 2)]
    options = [gold] + wrong
    rng.shuffle(options)
    subject = "false premise" if true_number is None else "true premise"
    return _mc(solar_prompt(question), options, gold, question, subject)


def winogrande_item(rng: random.Random, names: tuple[str, ...]) -> dict[str, Any]:
    """A corpus comparison whose question names its first person by a blank, in twin pairs' spirit.

    The question always compares with the middle person, and the two options are the other
    two: one makes the printed Yes (or No) true, the other false. Swapping Yes and No swaps
    the answer, as Winogrande's twin sentences swap theirs with one trigger word.
    """
    puzzle = corpus.comparison_puzzle(rng, names)
    top, middle, bottom = puzzle.order
    options = [top, bottom]
    rng.shuffle(options)
    says_yes = rng.random() < 0.5
    asked = top if says_yes else bottom
    question = corpus.RELATION_QUESTIONS[puzzle.relation].format(a="_", b=middle)
    sentence = f"{puzzle.stated} {question} {'Yes' if says_yes else 'No'}."
    return {
        "subject": "yes" if says_yes else "no", "sentence": sentence, "option1": options[0], "option2": options[1],
        "gold": options.index(asked), "source": sentence.replace("_", asked),
    }


def gsm8k_item(rng: random.Random, names: tuple[str, ...], two_steps: bool) -> dict[str, Any] | None:
    """A word problem with one-digit numbers: one step (the instruction data's math) or two.

    None for a one-step problem that the instruction data trains on or whose corpus line pretraining reads.
    """
    if two_steps:
        name, thing = rng.choice(names), rng.choice(corpus.THINGS)
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        c = rng.randint(1, min(9, a + b))
        question = (f"{name} has {a} {thing}, finds {b} more and then gives {c} away. "
                    f"How many {thing} does {name} have now?")
        result, steps = a + b - c, "two"
    else:
        problem, document = instruct_data.word_problem(rng, names)
        if instruct_data.split_of(problem.question, document) != "held_out":
            return None
        question, result, steps = problem.question, problem.result, "add" if problem.op == "+" else "take"
    return {"subject": steps, "question": question, "context": solar_prompt(question), "answer": str(result),
            "source": question}


def _draw(make: Callable[[random.Random], dict[str, Any] | None], rng: random.Random, count: int,
          held_out: Callable[[str], bool]) -> list[dict[str, Any]]:
    """``count`` rows with distinct held-out sources, in the order drawn."""
    rows: dict[str, dict[str, Any]] = {}
    for _ in range(1000 * count):
        row = make(rng)
        if row is not None and held_out(row["source"]):
            rows.setdefault(row["source"], row)
            if len(rows) == count:
                return list(rows.values())
    raise RuntimeError(f"found only {len(rows)} of {count} held-out items; lower the count")


def make_tasks(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """The rows of all six tasks, keyed by H6 column, each row with an ``id``."""
    w = toy.world()
    people, names = instruct_data.evaluation_people(w), w.first_names
    rng = random.Random(seed)
    held = corpus.is_held_out
    quarter, half = SIZES["MMLU"] // 4, SIZES["HellaSwag"] // 2
    tasks = {
        "ARC": _draw(lambda r: arc_item(r, w, people), rng, SIZES["ARC"], held),
        "HellaSwag": [row for kind in ("agreement", "sequence")
                      for row in _draw(lambda r: hellaswag_item(r, kind), rng, half, held)],
        "MMLU": [row for subject in MMLU_TOPICS
                 for row in _draw(lambda r: mmlu_item(r, w, people, subject), rng, quarter, held)],
        "TruthfulQA": truthfulqa_items(rng),
        "Winogrande": _draw(lambda r: winogrande_item(r, names), rng, SIZES["Winogrande"], held),
        "GSM8K": [row for two_steps in (False, True)
                  for row in _draw(lambda r: gsm8k_item(r, names, two_steps), rng, SIZES["GSM8K"] // 2,
                                   instruct_data.is_held_out)],
    }
    for rows in tasks.values():
        rng.shuffle(rows)
    return {name: [{"id": f"{name.lower()}-{n:03d}", **row} for n, row in enumerate(tasks[name])] for name in COLUMNS}


def file_name(name: str) -> str:
    """The shipped JSONL file of a column: ``h6_toy_arc.jsonl`` for ARC."""
    if name not in FORMS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(COLUMNS)}")
    return f"h6_toy_{name.lower()}.jsonl"


def data_path(name: str) -> Path:
    """The shipped JSONL file of one task."""
    return Path(str(resources.files("solar_lab.data").joinpath(file_name(name))))


def save_tasks(directory: str | Path, tasks: dict[str, list[dict[str, Any]]]) -> list[Path]:
    """Write each task's rows to ``directory`` under its shipped file name; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tasks.items():
        instruct_data.write_jsonl(rows, directory / file_name(name))
    return [directory / file_name(name) for name in tasks]


def load_tasks(names: tuple[str, ...] = COLUMNS) -> dict[str, Task]:
    """The shipped tasks, in H6's column order."""
    tasks = {}
    for name in names:
        with open(data_path(name), encoding="utf-8") as handle:
            tasks[name] = Task(name, [json.loads(line) for line in handle])
    return tasks


# --- scoring ----------------------------------------------------------------------------


def requests(task: Task, row: dict[str, Any]) -> list[tuple[str, str]]:
    """The (context, continuation) pairs lm-eval scores for one row (its ``arguments``).

    Choices follow the context after a space (lm-eval's ``target_delimiter``). Winogrande puts
    each option into the sentence and scores the same rest of the sentence after each.
    """
    if task.output == "choice":
        return [(row["context"], f" {choice}") for choice in row["choices"]]
    if task.output == "partial":
        blank = row["sentence"].index("_")
        ending = row["sentence"][blank + 1 :].strip()
        return [(row["sentence"][:blank] + row[option], f" {ending}") for option in ("option1", "option2")]
    raise ValueError(f"{task.name} is scored by generation, not by log-likelihood")


def encode_pair(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of a context and its continuation, split as lm-eval splits them.

    Trailing whitespace of the context moves to the continuation; the two are encoded
    together and cut where the context's own encoding ends, so a token is never split
    across the boundary the way two separate encodings could split it.
    """
    if not context:
        raise ValueError("a context must not be empty")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation)["input_ids"]
    context_ids = tokenizer(context)["input_ids"]
    return context_ids, whole[len(context_ids) :]


@torch.no_grad()
def loglikelihoods(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]], batch_size: int = 32
) -> list[float]:
    """Summed log-probability of each continuation given its context, in batches on ``model.device``.

    Sequences are right-padded and fed without an attention mask, as lm-eval does: a causal
    model's real positions never look at the padding after them.
    """
    encoded = [encode_pair(tokenizer, context, continuation) for context, continuation in pairs]
    limit = model.config.max_position_embeddings
    for (context, _), (context_ids, continuation_ids) in zip(pairs, encoded):
        if len(context_ids) + len(continuation_ids) - 1 > limit:
            raise ValueError(f"{context[:40]!r}... takes more than the model's {limit} positions")
    order = sorted(range(len(encoded)), key=lambda i: -sum(map(len, encoded[i])))
    results = [0.0] * len(encoded)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        inputs = [(encoded[i][0] + encoded[i][1])[:-1] for i in batch]
        width = max(map(len, inputs))
        ids = torch.tensor([row + [0] * (width - len(row)) for row in inputs], device=model.device)  # 0: never read
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
        for row, i in enumerate(batch):
            continuation = torch.tensor(encoded[i][1], device=model.device)
            end = len(inputs[row])
            picked = logprobs[row, end - len(continuation) : end].gather(1, continuation[:, None])
            results[i] = float(picked.sum())
    return results


@torch.no_grad()
def generate(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, contexts: list[str],
    max_new_tokens: int = MAX_NEW_TOKENS, batch_size: int = 32,
) -> list[str]:
    """Greedy continuations of ``contexts``, cut at the first stop sequence (lm-eval's ``generate_until``)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.unk_token_id
    encoded = [tokenizer(context)["input_ids"] for context in contexts]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    texts = [""] * len(contexts)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        new_tokens = greedy_batch(model, tokenizer, [encoded[i] for i in batch], pad, max_new_tokens)
        for row, i in enumerate(batch):
            text = tokenizer.decode(new_tokens[row], skip_special_tokens=True)
            for stop in STOP:
                text = text.split(stop)[0]
            texts[i] = text
    return texts


def extract_answer(generation: str) -> str:
    """The last integer in a generated answer, or ``"[invalid]"`` when there is none."""
    numbers = ANSWER.findall(generation)
    return numbers[-1].strip() if numbers else INVALID


@torch.no_grad()
def gguf_loglikelihoods(path: str | Path, tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]]) -> list[float]:
    """``loglikelihoods`` computed by llama.cpp from a GGUF file (F32 KV cache), one sequence at a time.

    Each sequence keeps the tokens it shares with the one before in the cache (the choices of one
    item share their context), as llama-cpp-python's own ``generate`` reuses a prompt's prefix.
    """
    from solar_lab.gguf_file import load_model

    encoded = [encode_pair(tokenizer, context, continuation) for context, continuation in pairs]
    width = max(len(c) + len(t) for c, t in encoded)
    results, previous = [], []
    with load_model(path, n_ctx=width, logits_all=True, type_k=0, type_v=0) as llm:
        for context_ids, continuation_ids in encoded:
            inputs = (context_ids + continuation_ids)[:-1]
            shared = next((i for i, (a, b) in enumerate(zip(previous, inputs)) if a != b), min(len(previous), len(inputs)))
            llm.n_tokens = shared  # the next eval drops the cache after the shared tokens
            if shared < len(inputs):
                llm.eval(inputs[shared:])
            previous = inputs
            logits = torch.tensor(llm.scores[len(context_ids) - 1 : len(inputs)])
            picked = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(continuation_ids)[:, None])
            results.append(float(picked.sum()))
    return results


def gguf_generate(path: str | Path, tokenizer: PreTrainedTokenizerBase, contexts: list[str],
                  max_new_tokens: int = MAX_NEW_TOKENS) -> list[str]:
    """``generate`` by llama.cpp from a GGUF file: greedy (``chat.stream_tokens``), cut at the first stop sequence."""
    from solar_lab.chat import stream_tokens
    from solar_lab.gguf_file import load_model

    width = max(len(tokenizer(context)["input_ids"]) for context in contexts)
    texts = []
    with load_model(path, n_ctx=width + max_new_tokens) as llm:
        for context in contexts:
            new_tokens = [token for token, _ in stream_tokens(llm, context, max_new_tokens)]
            text = tokenizer.decode(new_tokens, skip_special_tokens=True)
            for stop in STOP:
                text = text.split(stop)[0]
            texts.append(text)
    return texts


def score(model: PreTrainedModel | str | Path, tokenizer: PreTrainedTokenizerBase, task: Task,
          batch_size: int = 32) -> list[ItemResult]:
    """Per-item results on ``task``, in the task's row order, of a PyTorch model or a GGUF file (its path)."""
    on_gguf = isinstance(model, (str, Path))
    if task.output == "generate":
        contexts = [row["context"] for row in task.rows]
        generations = (gguf_generate(model, tokenizer, contexts) if on_gguf
                       else generate(model, tokenizer, contexts, batch_size=batch_size))
        return [
            ItemResult(row["id"], row["answer"], [], [], generation=text, answer=extract_answer(text),
                       exact_match=float(extract_answer(text) == row["answer"]))
            for row, text in zip(task.rows, generations)
        ]
    pairs = [requests(task, row) for row in task.rows]
    flat_pairs = [pair for item in pairs for pair in item]
    flat = (gguf_loglikelihoods(model, tokenizer, flat_pairs) if on_gguf
            else loglikelihoods(model, tokenizer, flat_pairs, batch_size))
    results, position = [], 0
    for row, item in zip(task.rows, pairs):
        lls = flat[position : position + len(item)]
        position += len(item)
        results.append(choice_result(row["id"], row["gold"], lls, row.get("choices")))
    return results


def task_score(task: Task, results: list[ItemResult]) -> float:
    """The task's H6 number: the mean of its metric over items, in percent."""
    return 100 * sum(getattr(result, task.metric) for result in results) / len(results)


def evaluate(
    model: PreTrainedModel | str | Path, tokenizer: PreTrainedTokenizerBase, tasks: dict[str, Task] | None = None,
    batch_size: int = 32,
) -> dict[str, float]:
    """The six scores in percent and their mean, keyed like Table 2: ``H6``, ``ARC``, ... ``GSM8K``.

    ``model`` is a PyTorch model or the path of a GGUF file, scored by llama.cpp.
    """
    tasks = load_tasks() if tasks is None else tasks
    scores = {name: task_score(task, score(model, tokenizer, task, batch_size)) for name, task in tasks.items()}
    return {"H6": sum(scores.values()) / len(scores), **scores}


# --- the same tasks for lm-evaluation-harness ------------------------------------------


def lm_eval_config(task: Task, data_file: str | Path) -> dict[str, Any]:
    """An lm-eval task config (YAML as a dict) that reads ``data_file`` and scores as ``score`` does."""
    config: dict[str, Any] = {
        "task": task.lm_eval_name,
        "tag": ["h6_toy"],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(Path(data_file).resolve())}},
        "test_split": "test",
        "num_fewshot": 0,
    }
    if task.output == "generate":
        return config | {
            "output_type": "generate_until",
            "doc_to_text": "context",
            "doc_to_target": "answer",
            "generation_kwargs": {"until": list(STOP), "max_gen_toks": MAX_NEW_TOKENS, "do_sample": False},
            "filter_list": [{"name": "last-number", "filter": [
                {"function": "regex", "regex_pattern": ANSWER.pattern, "group_select": -1, "fallback": INVALID},
                {"function": "take_first"},
            ]}],
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        }
    metrics = ("acc",) if task.output == "partial" else ("acc", "acc_norm")
    config |= {
        "output_type": "multiple_choice",
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics],
    }
    if task.output == "partial":  # as lm-eval's Winogrande: an int from doc_to_text puts the options in the contexts
        blank = "sentence.index('_')"
        return config | {
            "doc_to_text": "gold",
            "doc_to_choice": f"{{{{[sentence[:{blank}] + option1, sentence[:{blank}] + option2]}}}}",
            "doc_to_target": f"{{{{sentence[{blank} + 1:].strip()}}}}",
        }
    return config | {"doc_to_text": "context", "doc_to_choice": "choices", "doc_to_target": "gold"}


def write_lm_eval_tasks(directory: str | Path, tasks: dict[str, Task] | None = None) -> list[Path]:
    """Write each task's JSONL and YAML into ``directory``, for ``lm_eval --include_path directory``.

    ``--tasks h6_toy`` then runs all six (their shared tag).
    """
    import yaml

    tasks = load_tasks() if tasks is None else tasks
    configs = []
    for task, data in zip(tasks.values(), save_tasks(directory, {name: task.rows for name, task in tasks.items()})):
        configs.append(data.with_suffix(".yaml"))
        configs[-1].write_text(yaml.safe_dump(lm_eval_config(task, data), sort_keys=False, allow_unicode=True))
    return configs
