"""H6 in miniature: reproducible held-out tasks, lm-eval's scoring rules, and per-item agreement with lm-eval itself."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shutil
from collections import Counter
from importlib import resources

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from solar_lab import corpus, h6_toy, instruct_data, knowledge, toy
from solar_lab.h6_toy import FORMS, SIZES, Task, choice_result, disagreements, extract_answer
from solar_lab.leaderboard import TASKS as COLUMNS
from solar_lab.prompt import solar_prompt
from solar_lab.tokenizer import TOKENIZER_FILES, load_tokenizer
from solar_lab.training import token_blocks, train
from solar_lab.world import TEMPLATES


@pytest.fixture(scope="module")
def tasks():
    return h6_toy.load_tasks()


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(toy.checkpoint_path())


def test_shipped_files_equal_a_fresh_regeneration(tmp_path):
    fresh = h6_toy.make_tasks()
    assert fresh == h6_toy.make_tasks() and fresh != h6_toy.make_tasks(seed=1)
    for name, path in zip(fresh, h6_toy.save_tasks(tmp_path, fresh)):
        assert h6_toy.data_path(name).read_bytes() == path.read_bytes(), f"{name} is stale: run tools/make_eval_tasks.py"


def test_six_tasks_in_table_order_with_well_formed_items(tasks):
    assert tuple(tasks) == COLUMNS == tuple(FORMS)
    for name, task in tasks.items():
        assert len(task.rows) == SIZES.get(name, len(task.rows)) and 50 <= len(task.rows) <= 200
        assert len({row["id"] for row in task.rows}) == len({row["source"] for row in task.rows}) == len(task.rows)
    for name in ("ARC", "HellaSwag", "MMLU", "TruthfulQA"):
        for row in tasks[name].rows:
            assert len(set(row["choices"])) == len(row["choices"]) >= 4 and 0 <= row["gold"] < len(row["choices"])
    for name in ("ARC", "HellaSwag"):  # the context plus the gold answer is the corpus document
        assert all(f"{row['context']} {row['choices'][row['gold']]}" == row["source"] for row in tasks[name].rows)
    for row in tasks["Winogrande"].rows:
        assert row["sentence"].count("_") == 1
        assert row["sentence"].replace("_", row[("option1", "option2")[row["gold"]]]) == row["source"]
    for row in tasks["TruthfulQA"].rows + tasks["GSM8K"].rows:
        assert row["context"] == solar_prompt(row["source"])
    gold_letters = {row["gold"] for row in tasks["MMLU"].rows}
    assert gold_letters == {0, 1, 2, 3} and {row["subject"] for row in tasks["MMLU"].rows} == set(h6_toy.MMLU_TOPICS)


def test_gsm8k_answers_are_the_results_of_one_digit_problems(tasks):
    for row in tasks["GSM8K"].rows:
        a, b, *rest = numbers = [int(n) for n in re.findall(r"\d+", row["question"])]
        expected = a - b if row["subject"] == "take" else a + b - sum(rest)
        assert row["answer"] == str(expected) and expected >= 0 and len(rest) == (row["subject"] == "two")
        assert all(1 <= n <= 9 for n in numbers)
    assert Counter(row["subject"] == "two" for row in tasks["GSM8K"].rows) == {True: 50, False: 50}


def test_no_item_is_a_training_document_or_prompt(tasks):
    documents = [row["source"] for name in ("ARC", "HellaSwag", "MMLU", "Winogrande") for row in tasks[name].rows]
    prompts = [row["source"] for name in ("TruthfulQA", "GSM8K") for row in tasks[name].rows]
    assert all(corpus.is_held_out(text) for text in documents)
    assert all(instruct_data.is_held_out(text) for text in prompts)
    assert not set(documents) & set(toy.corpus().train)
    trained = {row["prompt"] for name, part in instruct_data.FILES if part == "train"
               for row in instruct_data.load(name, part)}
    assert not set(prompts) & trained
    for row in tasks["GSM8K"].rows:  # a one-step problem restates a corpus line: pretraining never read it either
        if row["subject"] != "two":
            assert corpus.is_held_out(f"{row['question']} {row['answer']}.")


def test_facts_items_ask_evaluation_people_what_pretraining_stated(tasks):
    world = toy.world()
    people = {person.name: person for person in instruct_data.evaluation_people(world)}
    for row in tasks["ARC"].rows:  # a biography sentence of an evaluation person, cut before the value
        name = " ".join(row["context"].split()[:2])
        person, attribute = people[name], row["subject"]
        assert row["choices"][row["gold"]] == f"{person.facts[attribute]}."
        assert {choice.rstrip(".") for choice in row["choices"]} <= set(world.vocabulary.values[attribute])
        assert row["source"] in {template.format(s=name, p=p, v=person.facts[attribute])
                                 for template in TEMPLATES[attribute] for p in ("his", "her")}
    assert {row["subject"] for row in tasks["ARC"].rows} == set(TEMPLATES)
    for row in (row for row in tasks["MMLU"].rows if row["subject"] == "facts"):
        question = row["context"].split("\n\n")[1].split("\n")[0]
        name = re.search(r"[A-Z]\w+ [A-Z]\w+", question)[0]
        attribute = next(a for a, questions in instruct_data.FACT_QUESTIONS.items()
                         if question in {q.format(x=name) for q in questions})
        options = dict(re.findall(r"^([A-D])\. (\w+)$", row["context"], re.MULTILINE))
        assert options[h6_toy.LETTERS[row["gold"]]] == people[name].facts[attribute]
        assert set(options.values()) <= set(world.vocabulary.values[attribute]) and len(set(options.values())) == 4
        assert row["source"].startswith(question)


def test_acc_and_acc_norm_disagree_when_length_decides():
    # "elephant." loses on total log-likelihood (-9 < -6) but wins per character (-1.0 > -1.5)
    item = choice_result("constructed", 1, [-6.0, -9.0], ["cat.", "elephant."])
    assert (item.chosen, item.chosen_norm, item.acc, item.acc_norm) == (0, 1, 0.0, 1.0)
    assert item.lengths == [4, 9] and item.per_character == [-1.5, -1.0]
    agreeing = choice_result("agreeing", 0, [-4.0, -9.0], ["cat.", "elephant."])
    assert disagreements([item, agreeing]) == [item]
    tie = choice_result("tie", 1, [-5.0, -5.0], ["ab", "cd"])  # equals go to the first, as numpy's argmax
    assert (tie.acc, tie.acc_norm) == (0.0, 0.0)
    winogrande = choice_result("partial", 1, [-3.0, -2.0], None)
    assert (winogrande.acc, winogrande.acc_norm) == (1.0, None) and disagreements([winogrande]) == []


def test_encode_pair_moves_trailing_whitespace_and_cuts_the_joint_encoding(tokenizer):
    prompt = solar_prompt("How many eggs can a cow lay in its lifetime?")
    context_ids, continuation_ids = h6_toy.encode_pair(tokenizer, prompt, " A cow is a mammal.")
    whole = tokenizer(prompt + " A cow is a mammal.")["input_ids"]
    assert context_ids == tokenizer(prompt.rstrip())["input_ids"]
    assert continuation_ids == whole[len(context_ids):]  # as lm-eval: the joint encoding, cut
    assert tokenizer.decode(continuation_ids).strip() == "A cow is a mammal."
    with pytest.raises(ValueError, match="empty"):
        h6_toy.encode_pair(tokenizer, "", " x")


def test_answer_extraction_takes_the_last_integer():
    assert extract_answer("76 + 77 = 153.") == "153"
    assert extract_answer("She has -4 left") == "-4"
    assert extract_answer("no idea") == h6_toy.INVALID


def test_batched_loglikelihoods_equal_one_at_a_time(tasks, tokenizer):
    model, _ = toy.load()
    pairs = [pair for row in tasks["HellaSwag"].rows[:3] for pair in h6_toy.requests(tasks["HellaSwag"], row)]
    batched = h6_toy.loglikelihoods(model, tokenizer, pairs, batch_size=5)
    single = [h6_toy.loglikelihoods(model, tokenizer, [pair], batch_size=1)[0] for pair in pairs]
    assert batched == pytest.approx(single, abs=1e-4)
    context_ids, continuation_ids = h6_toy.encode_pair(tokenizer, *pairs[0])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([context_ids + continuation_ids])).logits[0], -1)
    by_hand = sum(logprobs[len(context_ids) - 1 + i, token].item() for i, token in enumerate(continuation_ids))
    assert batched[0] == pytest.approx(by_hand, abs=1e-4)


def test_evaluate_averages_six_scores(tasks, tokenizer):
    model, _ = toy.load()
    sample = {name: Task(name, task.rows[:20]) for name, task in tasks.items()}
    scores = h6_toy.evaluate(model, tokenizer, sample)
    assert list(scores) == ["H6", *COLUMNS]
    assert scores["H6"] == pytest.approx(sum(scores[name] for name in COLUMNS) / 6)
    results = h6_toy.score(model, tokenizer, sample["GSM8K"])
    assert all(r.answer == extract_answer(r.generation) and "\n" not in r.generation for r in results)


def test_arc_follows_what_the_shipped_base_knows(tasks, tokenizer):
    """ARC asks for values the base predicts top-1 in biographies (its facts accuracy) or guesses among four."""
    model, _ = toy.load()
    world = toy.world()
    known = knowledge.measure(model, knowledge.make_probe(world, tokenizer, 200, seed=11)).facts_accuracy(world)
    arc = h6_toy.task_score(tasks["ARC"], h6_toy.score(model, tokenizer, tasks["ARC"]))
    assert arc >= 100 * known + 25 * (1 - known) - 15, (arc, known)


def test_unknown_task_and_generation_task_errors_are_clear(tasks):
    with pytest.raises(ValueError, match="unknown task 'BBH'"):
        h6_toy.file_name("BBH")
    with pytest.raises(ValueError, match="generation"):
        h6_toy.requests(tasks["GSM8K"], tasks["GSM8K"].rows[0])


def _briefly_trained_llama(tokenizer) -> LlamaForCausalLM:
    """A 2-layer Llama, trained for a few seconds on a corpus of another seed: its own answers, not the toy's."""
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    documents = corpus.make_corpus(toy.world(), seed=7, train_chars=20_000).train
    sums = [row for row in instruct_data.load("instruct", "train") if row["kind"] == "math"][:300]
    answers = [solar_prompt(row["prompt"]) + row["response"] for row in sums]  # so that it answers with numbers
    train(model, token_blocks(tokenizer, documents + answers, 64), steps=120, batch_size=16, lr=1e-2, progress=False)
    return model.eval()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval is not installed (pip install lm-eval)")
def test_per_item_scores_equal_lm_evaluation_harness(tmp_path, tasks, tokenizer):
    """Our scores against `lm_eval --model hf` on a checkpoint and items no notebook and no other test uses."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    checkpoint = tmp_path / "model"
    _briefly_trained_llama(tokenizer).save_pretrained(checkpoint)
    for name in TOKENIZER_FILES:
        shutil.copy(toy.checkpoint_path() / name, checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    rng = random.Random(11)  # items of another draw of the tasks (seed 1): none of them is in a notebook
    sample = {name: Task(name, rng.sample(rows, 12)) for name, rows in h6_toy.make_tasks(seed=1).items()}
    generated = h6_toy.score(model, tokenizer, sample["GSM8K"], batch_size=5)
    numbered = [i for i, result in enumerate(generated) if result.answer != h6_toy.INVALID]
    assert len(numbered) >= 6, "the model should answer with numbers, so that the extraction is compared"
    rows = list(sample["GSM8K"].rows)  # one item it gets right, so that an exact match of 1 is compared too
    rows[numbered[0]] = dict(rows[numbered[0]], answer=generated[numbered[0]].answer)
    sample["GSM8K"] = Task("GSM8K", rows)
    h6_toy.write_lm_eval_tasks(tmp_path / "tasks", sample)
    output = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={checkpoint},dtype=float32", tasks=["h6_toy"],
        task_manager=TaskManager(include_path=str(tmp_path / "tasks")), device="cpu", batch_size=4, log_samples=True,
    )
    flips = 0
    for name, task in sample.items():
        theirs = sorted(output["samples"][task.lm_eval_name], key=lambda s: s["doc_id"])
        ours = h6_toy.score(model, tokenizer, task, batch_size=5)
        assert [s["doc"]["id"] for s in theirs] == [row["id"] for row in task.rows]
        for row, mine, their in zip(task.rows, ours, theirs):
            if task.output == "generate":
                assert their["resps"][0][0] == mine.generation and their["filtered_resps"][0] == mine.answer
                assert their["exact_match"] == mine.exact_match
                continue
            assert [tuple(pair) for pair in their["arguments"]] == h6_toy.requests(task, row)
            assert [ll for ll, _ in their["filtered_resps"]] == pytest.approx(mine.loglikelihoods, abs=2e-4)
            assert their["acc"] == mine.acc and their.get("acc_norm") == mine.acc_norm
            flips += mine.acc != mine.acc_norm and mine.acc_norm is not None
    assert output["results"]["h6_toy_gsm8k"]["exact_match,last-number"] >= 1 / 12
    assert flips > 0, "no item where acc and acc_norm differ: the acc_norm check compared nothing"


def test_a_gguf_file_scores_every_item_as_pytorch_does(tmp_path, tasks, tokenizer):
    """The F32 GGUF export of toy-solar-instruct, scored by llama.cpp, against the same model in PyTorch."""
    from solar_lab.gguf_export import export_gguf

    model, _ = toy.load("toy-solar-instruct")
    path = export_gguf(toy.checkpoint_path("toy-solar-instruct"), tmp_path / "model.gguf", outtype="f32")
    rng = random.Random(3)
    for name, task in tasks.items():
        sample = Task(name, rng.sample(task.rows, 6))
        on_gguf, on_torch = h6_toy.score(path, tokenizer, sample), h6_toy.score(model, tokenizer, sample)
        assert [r.id for r in on_gguf] == [r.id for r in on_torch]
        for mine, theirs in zip(on_gguf, on_torch):
            assert mine.loglikelihoods == pytest.approx(theirs.loglikelihoods, abs=1e-3)
            assert (mine.acc, mine.acc_norm, mine.generation, mine.exact_match) == \
                (theirs.acc, theirs.acc_norm, theirs.generation, theirs.exact_match)
    assert set(h6_toy.evaluate(path, tokenizer, {"GSM8K": Task("GSM8K", tasks["GSM8K"].rows[:3])})) == {"H6", "GSM8K"}


@pytest.mark.slow
def test_the_lineage_file_holds_what_the_shipped_instruct_model_scores(tasks, tokenizer):
    lineage = json.loads((resources.files("solar_lab") / "data" / "lineage.json").read_text())
    assert list(lineage["stages"]) == ["toy-base", "merged", "toy-solar-base", "sft", "dpo-v1", "dpo-v2", "toy-solar-instruct"]
    model, _ = toy.load("toy-solar-instruct")
    assert h6_toy.evaluate(model, tokenizer, tasks) == pytest.approx(lineage["stages"]["toy-solar-instruct"]["h6"], abs=2)
