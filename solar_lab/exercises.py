"""The notebooks' exercises and their checks: right, or not yet (with a hint from the second miss).

Every expected value is computed here, from the package, when an answer is checked, so no
notebook cell holds the answer it checks against. Two kinds of exercise:

- a value: ``check("m = 4: depth", my_depth)`` compares a number or a word;
- a function: ``check_function("destinations", my_destinations)`` runs the reader's function
  on inputs the notebook never shows and compares each result with the package's own function.

An answer of ``None`` (or a function that still raises ``NotImplementedError``) means "not
answered yet": the check says so and the notebook runs on, which is how the student edition
runs top to bottom before anyone has solved anything.
"""

from __future__ import annotations

import json
import math
import numbers
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import torch

from solar_lab.architecture import DecoderShape, load_config_dict
from solar_lab.averaging import linear_average
from solar_lab.dpo import dpo_loss
from solar_lab.dus import DusPlan, upscaled_config, upscaled_state_dict
from solar_lab.h6_toy import choice_result, extract_answer
from solar_lab.leaderboard import TASKS as COLUMNS
from solar_lab.sft import encode
from solar_lab.recipe import RECIPE
from solar_lab.solar_gguf import bandwidth_bound, pick_quant
from solar_lab.tokenizer import load_tokenizer
from solar_lab.toy import checkpoint_path, toy_config, world as toy_world

MISSES: Counter[str] = Counter()
"""Wrong answers so far per exercise, in this kernel: the hint shows from the second."""


@dataclass(frozen=True)
class Exercise:
    """An exercise with a value for an answer: how to compute it, how close is right, and a hint."""

    expected: Callable[[], Any]
    hint: str
    tolerance: float = 0.0


@dataclass(frozen=True)
class CodingExercise:
    """An exercise whose answer is a function: inputs to try it on, the package's function, a hint."""

    cases: Callable[[], list[tuple]]
    reference: Callable[..., Any]
    hint: str


def mistral_upscaled_parameters(m: int) -> int:
    """Parameters of Mistral 7B up-scaled with ``m`` layers dropped at the seam."""
    return DecoderShape.from_config(upscaled_config(load_config_dict("mistral-7b-v0.1"), m)).total_parameters()


def toy_parameters(layers: int) -> int:
    """Parameters of the toy model with ``layers`` layers, counted from its config."""
    return DecoderShape.from_config(toy_config(layers)).total_parameters()


def upscaled_beats_equal_compute() -> bool:
    """Whether seed 0's up-scaled model ends above the base trained on 1.5x the tokens (the same compute)."""
    runs = json.loads((resources.files("solar_lab") / "data" / "dus_seeds.json").read_text())["seeds"]
    first = runs[str(RECIPE.seeds[0])]
    return first["up-scaled"]["accuracy"][-1] > first["further 1.5x"]["accuracy"][-1]


def worked_dpo_loss() -> float:
    """The DPO loss of notebook 03's worked pair, to three decimals."""
    logps = [torch.tensor([value]) for value in (-10.0, -14.0, -12.0, -12.0)]
    return round(float(dpo_loss(*logps, beta=0.5)[0]), 3)


def ratio_zero_keeps() -> str:
    """Which model ``linear_average(first, second, 0.0)`` returns: "first" or "second"."""
    first, second = {"w": torch.zeros(2)}, {"w": torch.ones(2)}
    return "second" if torch.equal(linear_average(first, second, 0.0)["w"], second["w"]) else "first"


def sft_loss_tokens() -> int:
    """How many tokens of the worked SFT example carry a label (the rest are masked with -100)."""
    tokenizer = load_tokenizer(checkpoint_path())
    encoded = encode(tokenizer, "What is 2 + 2?", "2 + 2 = 4.", 2 * RECIPE.block_size)  # the toy's context
    return sum(label != -100 for label in encoded["labels"])


def t4_bound_q5_k_m() -> int:
    """Tokens/s a T4 (320 GB/s) can at most decode from SOLAR's Q5_K_M file (7.60 GB)."""
    return round(bandwidth_bound(7.60e9, 320.0))


def file_for_8_gb() -> str:
    """The SOLAR GGUF that ``pick_quant`` chooses for 8 GB when Q4_K_M does not fit."""
    choice = pick_quant(8.0, "Q4_K_M")
    return choice.quant if choice else "none"


def q4_0_bits_per_weight() -> float:
    """Bits per weight of Q4_0 blocks, from gguf's table of block sizes."""
    import gguf  # the gguf extra: only notebook 04 installs it

    block_weights, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_0]
    return 8 * block_bytes / block_weights


GSM8K_REPLY = "Tonin has 9 + 8 = 17 stamps now, not 18."
"""A reply whose last number is not its answer (notebook 05, exercise 3)."""


def lineage() -> dict[str, Any]:
    """The shipped numbers of tools/make_lineage.py (``data/lineage.json``)."""
    return json.loads((resources.files("solar_lab") / "data" / "lineage.json").read_text())


def lineage_h6_of_instruct() -> float:
    """The H6 of toy-solar-instruct in the shipped lineage file: the mean of its six task scores."""
    scores = lineage()["stages"]["toy-solar-instruct"]["h6"]
    return sum(scores[column] for column in COLUMNS) / len(COLUMNS)


def highest_truthfulqa() -> str:
    """The stage of the shipped lineage file with the highest TruthfulQA score."""
    stages = lineage()["stages"]
    return max(stages, key=lambda stage: stages[stage]["h6"]["TruthfulQA"])


EXERCISES: dict[str, Exercise] = {
    # notebook 01
    "m = 4: depth": Exercise(lambda: DusPlan(32, 4).depth, "s = 2·(n − m)"),
    "m = 4: parameters": Exercise(lambda: mistral_upscaled_parameters(4), "P = 2·V·d + d + s·(attention + MLP + 2·d)"),
    "naive repeat minus SOLAR": Exercise(
        lambda: mistral_upscaled_parameters(0) - mistral_upscaled_parameters(8),
        "16 more layers, each with attention, MLP and two norms",
    ),
    "SOLAR layer 31 comes from layer": Exercise(
        lambda: DusPlan(32, 8).source_layers[30] + 1,
        "the first 24 new layers are the original's layers 1–24; the copy starts at its layer 9",
    ),
    "SOLAR layer 31 comes from": Exercise(
        lambda: "copy" if 30 >= len(DusPlan(32, 8).kept_from_original) else "original",
        'answer "original" or "copy": the original contributes its first n − m layers',
    ),
    # notebook 02
    "layers for n=8, m=3": Exercise(lambda: DusPlan(8, 3).depth, "2·(n−m)"),
    "source of new layer 6": Exercise(lambda: DusPlan(8, 2).source_layers[6], "the copy keeps layers m…n−1"),
    "parameters of the up-scaled toy": Exercise(
        lambda: toy_parameters(RECIPE.upscaled_layers), "embeddings + 2·(n−m) layers + norm + LM head"
    ),
    "up-scaled beats equal compute": Exercise(
        upscaled_beats_equal_compute, "compare the last accuracy of 'up-scaled' and 'further 1.5x' in section 5's table"
    ),
    "bits in the toy world": Exercise(
        lambda: toy_world().bits(), "people × (log2 of each attribute's number of values, summed)", tolerance=1e-6
    ),
    # notebook 03
    "dpo-loss": Exercise(
        worked_dpo_loss, "β·((−10+12) − (−14+12)) = 2; the loss is −log σ(2) = log(1 + e^−2).", tolerance=5e-4
    ),
    "ratio-zero": Exercise(ratio_zero_keeps, 'ratio is the share of the first model; answer "first" or "second"'),
    "loss-tokens": Exercise(sft_loss_tokens, "count the answer's tokens, plus one for </s>."),
    # notebook 04
    "T4 bound for Q5_K_M": Exercise(t4_bound_q5_k_m, "bandwidth divided by the bytes read per token"),
    "file for 8 GB": Exercise(file_for_8_gb, "the file's size plus about 2.5 GB must fit in 8 GB"),
    "Q4_0 bits per weight": Exercise(
        q4_0_bits_per_weight, "count the bytes of one block: 2 for the scale plus 32 half-bytes", tolerance=1e-9
    ),
    # notebook 05
    "H6 of toy-solar-instruct": Exercise(
        lineage_h6_of_instruct, "the mean of the six columns ARC … GSM8K of its row, in percent", tolerance=0.01
    ),
    "highest TruthfulQA": Exercise(
        highest_truthfulqa,
        "compare the TruthfulQA column over the rows of the stages in lineage.json; answer the stage's name",
    ),
    "number GSM8K takes": Exercise(
        lambda: int(extract_answer(GSM8K_REPLY)), "lm-eval's GSM8K filter takes the last integer in the reply"
    ),
}


def destination_cases() -> list[tuple[int, int, int]]:
    """(source layer, n, m) triples, SOLAR's own among them."""
    rng = random.Random(1)
    cases = [(0, 32, 8), (8, 32, 8), (23, 32, 8), (31, 32, 8), (3, 4, 0)]
    for _ in range(20):
        n = rng.randint(2, 40)
        m = rng.randint(0, (n - 1) // 2)
        cases.append((rng.randrange(n), n, m))
    return cases


def state_dict_cases() -> list[tuple[dict[str, torch.Tensor], int, int]]:
    """Small Llama-named state dicts with (n, m): every layer tensor, embeddings, norm, LM head."""
    rng = random.Random(2)
    cases = []
    for n, m in ((4, 1), (6, 2), (5, 0), (rng.randint(3, 9), 1)):
        tensors = {"model.embed_tokens.weight": torch.randn(3, 2), "model.norm.weight": torch.randn(2)}
        for layer in range(n):
            for part in ("self_attn.q_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight"):
                tensors[f"model.layers.{layer}.{part}"] = torch.full((2,), float(layer))
        tensors["lm_head.weight"] = torch.randn(3, 2)
        cases.append((tensors, n, m))
    return cases


def dpo_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]]:
    """Batches of sequence log-probabilities (policy chosen/rejected, reference chosen/rejected) and a β."""
    generator = torch.Generator().manual_seed(3)
    cases = []
    for size, beta in ((1, 0.1), (4, 0.5), (8, 1.0), (3, 2.0)):
        logps = [-30 * torch.rand(size, generator=generator) for _ in range(4)]
        cases.append((*logps, beta))
    return cases


def q4_0_cases() -> list[tuple[np.ndarray]]:
    """Rows of float32 weights (multiples of 32 long), including an all-zero block."""
    rng = np.random.default_rng(4)
    rows = [rng.normal(size=32).astype(np.float32), rng.normal(scale=0.02, size=256).astype(np.float32)]
    rows.append(np.concatenate([np.zeros(32, np.float32), rng.uniform(-5, 5, 64).astype(np.float32)]))
    return [(row,) for row in rows]


def choice_cases() -> list[tuple[list[float], list[str], int]]:
    """Multiple-choice items: each choice's summed log-likelihood, the choices, the gold index."""
    rng = random.Random(5)
    cases = [([-4.0, -9.0, -6.0], ["Paris.", "Seoul and Lima.", "Oslo."], 1),
             ([-12.0, -5.0, -5.0, -20.0], ["a", "bb", "cc", "dddd"], 2)]
    for _ in range(6):
        choices = ["x" * rng.randint(1, 30) for _ in range(4)]
        cases.append(([-rng.uniform(1, 40) for _ in choices], choices, rng.randrange(4)))
    return cases


def acc_and_acc_norm(loglikelihoods: list[float], choices: list[str], gold: int) -> tuple[float, float]:
    """lm-evaluation-harness's ``acc`` and ``acc_norm`` of one item (``h6_toy.choice_result``)."""
    result = choice_result("item", gold, loglikelihoods, choices)
    return result.acc, result.acc_norm


def q4_0_reference(weights: np.ndarray) -> np.ndarray:
    """gguf's own Q4_0: quantize ``weights`` and read them back as float32."""
    from gguf import GGMLQuantizationType, quants

    return quants.dequantize(quants.quantize(weights, GGMLQuantizationType.Q4_0), GGMLQuantizationType.Q4_0)


CODING: dict[str, CodingExercise] = {
    "destinations": CodingExercise(
        destination_cases,
        lambda source, n, m: DusPlan(n, m).destinations(source),
        "the original keeps layers 0…n−m−1 in place; the copy's layers m…n−1 follow them",
    ),
    "upscaled state dict": CodingExercise(
        state_dict_cases,
        lambda state_dict, n, m: upscaled_state_dict(state_dict, DusPlan(n, m)),
        "rename each layer tensor with the plan (one name per destination); keep every other name",
    ),
    "dpo_loss": CodingExercise(
        dpo_cases,
        lambda *logps_and_beta: dpo_loss(*logps_and_beta)[0],
        "−log σ(β·((πc − rc) − (πr − rr))): use torch.nn.functional.logsigmoid for a stable −log σ",
    ),
    "acc and acc_norm": CodingExercise(
        choice_cases,
        acc_and_acc_norm,
        "acc: 1.0 if the highest log-likelihood is the gold choice's; acc_norm: the same after dividing each"
        " log-likelihood by len(choice); ties go to the first choice",
    ),
    "q4_0": CodingExercise(
        q4_0_cases,
        q4_0_reference,
        "per block of 32: d = (the value of largest magnitude, sign kept) / −8; q = trunc(x / d + 8.5) clipped"
        " to 0…15; the value read back is (q − 8) · d with d stored as float16",
    ),
}


def verdict(name: str, hint: str, why: str) -> str:
    """The line for a wrong answer: the hint from the second miss of ``name`` on."""
    MISSES[name] += 1
    line = f"{name}: not yet — {why}"
    return f"{line} Hint: {hint}" if MISSES[name] > 1 else f"{line} Try again."


def same_value(answer: Any, expected: Any, tolerance: float) -> bool:
    """Equal, or for numbers within ``tolerance``; True is not the number 1."""
    if isinstance(answer, (bool, np.bool_)) or isinstance(expected, bool):
        return isinstance(answer, (bool, np.bool_)) and isinstance(expected, bool) and bool(answer) == expected
    if isinstance(answer, numbers.Real) and isinstance(expected, numbers.Real):
        return math.isclose(answer, expected, rel_tol=0.0, abs_tol=tolerance)
    return answer == expected


def check(name: str, answer: Any) -> None:
    """Check the reader's ``answer`` to exercise ``name`` and print right or not yet.

    It prints and returns nothing, so a notebook cell shows the verdict alone.
    """
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; the exercises are: {', '.join(sorted(EXERCISES))}")
    exercise = EXERCISES[name]
    if answer is None:
        print(f"{name}: not yet — replace None with your answer.")
        return
    if same_value(answer, exercise.expected(), exercise.tolerance):
        print(f"{name}: right ✓")
    else:
        print(verdict(name, exercise.hint, f"{answer!r} is not it."))


def same_result(result: Any, expected: Any) -> bool:
    """Whether a function's result equals the package's: tensors and arrays element by element."""
    if isinstance(expected, torch.Tensor):
        return isinstance(result, torch.Tensor) and result.shape == expected.shape and torch.allclose(result, expected)
    if isinstance(expected, np.ndarray):
        result = np.asarray(result)
        return result.shape == expected.shape and np.array_equal(result, expected)
    if isinstance(expected, dict):
        return (
            isinstance(result, dict)
            and result.keys() == expected.keys()
            and all(same_result(result[key], value) for key, value in expected.items())
        )
    return result == expected


def describe(arguments: tuple) -> str:
    """A short description of a case's arguments for a not-yet line."""
    parts = []
    for argument in arguments:
        if isinstance(argument, (torch.Tensor, np.ndarray)):
            parts.append(f"a {type(argument).__name__} of shape {tuple(argument.shape)}")
        elif isinstance(argument, dict):
            parts.append(f"a state dict of {len(argument)} tensors")
        else:
            parts.append(repr(argument))
    return ", ".join(parts)


def check_function(name: str, function: Callable[..., Any] | None) -> None:
    """Run the reader's ``function`` on the exercise's cases against the reference; print right or not yet."""
    if name not in CODING:
        raise ValueError(f"no coding exercise {name!r}; the coding exercises are: {', '.join(sorted(CODING))}")
    exercise = CODING[name]
    cases = exercise.cases()
    for number, arguments in enumerate(cases, start=1):
        expected = exercise.reference(*arguments)
        try:
            result = function(*arguments) if function is not None else None
        except NotImplementedError:
            result = None
        except Exception as error:  # the reader's code: report it in one line, never a traceback
            print(verdict(name, exercise.hint, f"on ({describe(arguments)}) it raised {type(error).__name__}: {error}"))
            return
        if result is None:
            print(f"{name}: not yet — write the function's body, then run this cell again.")
            return
        if not same_result(result, expected):
            print(verdict(name, exercise.hint, f"case {number} of {len(cases)} ({describe(arguments)}) gives another result."))
            return
    print(f"{name}: right ✓ (all {len(cases)} cases match)")
