"""DPO: the loss against its formula and against a step of TRL's DPOTrainer, log-probs, the loop and metrics."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from _align_fixtures import make_model, make_tokenizer, preferences
from _device_fixtures import ELSEWHERE, ElsewhereModel
from solar_lab.dpo import (
    all_pair_logps,
    check_beta,
    dpo_loss,
    encode_pairs,
    pair_batch,
    preference_accuracy,
    sequence_logps,
    step_metrics,
    train_dpo,
)
from solar_lab.prompt import solar_prompt
from solar_lab.sft import IGNORE, collate, encode, pad_token_id


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def trl_first_step(policy, reference, tokenizer, rows: list[dict[str, str]], beta: float, output_dir) -> tuple[dict, list]:
    """One step of TRL's DPOTrainer on all ``rows`` as one batch: the step's log and the pairs as TRL tokenized them.

    TRL tokenizes prompt and answer as one text, so an answer's first token can differ from
    ``encode``'s (``"A"`` against ``"▁A"``); the pairs come back in ``encode``'s layout.
    """
    config = DPOConfig(
        output_dir=str(output_dir), beta=beta, max_steps=1, per_device_train_batch_size=len(rows), logging_steps=1,
        report_to=[], save_strategy="no", use_cpu=True, bf16=False, disable_tqdm=True,
    )
    trainer = DPOTrainer(model=policy, ref_model=reference, args=config, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(rows))
    trainer.train()
    pairs = [
        tuple({"input_ids": row["prompt_ids"] + row[side], "labels": [IGNORE] * len(row["prompt_ids"]) + row[side]}
              for side in ("chosen_ids", "rejected_ids"))
        for row in trainer.train_dataset
    ]
    return trainer.state.log_history[0], pairs


def test_dpo_loss_matches_the_formula_on_hand_picked_numbers():
    losses, chosen, rejected = dpo_loss(
        torch.tensor([-1.0, -5.0]), torch.tensor([-3.0, -2.0]), torch.tensor([-2.0, -4.0]), torch.tensor([-2.0, -4.0]), 0.5
    )
    # pair 0: β((−1+2) − (−3+2)) = 1 → log(1+e^−1); pair 1: β((−5+4) − (−2+4)) = −1.5 → log(1+e^1.5)
    assert losses.tolist() == pytest.approx([math.log1p(math.exp(-1.0)), math.log1p(math.exp(1.5))])
    assert chosen.tolist() == pytest.approx([0.5, -0.5])
    assert rejected.tolist() == pytest.approx([-0.5, 1.0])
    equal = dpo_loss(torch.tensor([-7.0]), torch.tensor([-7.0]), torch.tensor([-3.0]), torch.tensor([-3.0]), 2.0)[0]
    assert equal.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_dpo_step_equals_trl_on_the_same_batch(tokenizer, tmp_path, beta):
    rows = [row for row in preferences() if row["kind"] == "premise"][:4]  # long answers: rewards far from 0
    trl_rows = [{"prompt": solar_prompt(row["prompt"]), "chosen": row["chosen"], "rejected": row["rejected"]} for row in rows]
    log, pairs = trl_first_step(make_model(len(tokenizer), seed=1), make_model(len(tokenizer), seed=2), tokenizer,
                                trl_rows, beta, tmp_path)
    batch = pair_batch(pairs, pad_token_id(tokenizer))
    with torch.no_grad():  # fresh copies of the weights TRL's step started from
        chosen_logps, rejected_logps = sequence_logps(make_model(len(tokenizer), seed=1), batch).chunk(2)
        reference_chosen, reference_rejected = sequence_logps(make_model(len(tokenizer), seed=2), batch).chunk(2)
    losses, chosen, rejected = dpo_loss(chosen_logps, rejected_logps, reference_chosen, reference_rejected, beta)
    ours = step_metrics(0, losses, chosen, rejected)
    assert abs(ours["loss"] - math.log(2)) > 0.01  # policy and reference differ: rewards far from 0
    # float32 sums of about -150 nats, added up in another order by TRL's tiled LM head: equal to ~1e-5 nats
    assert chosen_logps.mean().item() == pytest.approx(log["logps/chosen"], abs=1e-4)
    assert rejected_logps.mean().item() == pytest.approx(log["logps/rejected"], abs=1e-4)
    for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert ours[name] == pytest.approx(log[name], abs=1e-4), name


def test_dpo_loss_gradient_flows_to_policy_only():
    pc, pr = torch.tensor([-4.0], requires_grad=True), torch.tensor([-4.0], requires_grad=True)
    losses, chosen, _ = dpo_loss(pc, pr, torch.tensor([-4.0]), torch.tensor([-4.0]), 0.1)
    losses.sum().backward()
    assert pc.grad.item() == pytest.approx(-0.05) and pr.grad.item() == pytest.approx(0.05)
    assert not chosen.requires_grad


@pytest.mark.parametrize("beta", [0, -0.1, float("nan")])
def test_beta_must_be_positive(beta):
    with pytest.raises(ValueError, match="beta must be positive"):
        check_beta(beta)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), beta)


def test_sequence_logps_sums_response_tokens_only(tokenizer):
    model = make_model(len(tokenizer))
    rows = preferences()[:3]
    examples = [encode(tokenizer, row["prompt"], row["chosen"], 256) for row in rows]
    batch = collate(examples, pad_token_id(tokenizer))
    logps = sequence_logps(model, batch)
    with torch.no_grad():
        for row, example in enumerate(examples):  # transformers' own loss: mean negative log-prob per label
            count = sum(label != -100 for label in example["labels"])
            expected = -model(**collate([example], pad_token_id(tokenizer))).loss.item() * count
            assert logps[row].item() == pytest.approx(expected, rel=1e-4)


def test_training_makes_the_implicit_reward_prefer_chosen(tokenizer):
    rows = [row for row in preferences() if row["kind"] == "premise"][:8]
    pairs = encode_pairs(tokenizer, rows, 256)
    pad = pad_token_id(tokenizer)
    policy, reference = make_model(len(tokenizer), seed=1), make_model(len(tokenizer), seed=1)
    reference_before = {name: tensor.clone() for name, tensor in reference.state_dict().items()}
    log = train_dpo(policy, reference, pairs, pad, steps=12, beta=0.5, batch_size=8, lr=2e-2, progress=False)
    assert log[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)  # policy == reference at step 0
    assert log[-1]["loss"] < 0.3 and log[-1]["rewards/accuracies"] == 1.0 and log[-1]["rewards/margins"] > 1
    chosen, rejected = all_pair_logps(policy, pairs, pad)
    ref_chosen, ref_rejected = all_pair_logps(reference, pairs, pad)
    assert preference_accuracy(chosen - ref_chosen, rejected - ref_rejected) == 1.0
    # the reference is left as it was: same weights, and still trainable (a copy can start another DPO run)
    assert all(torch.equal(reference_before[name], tensor) for name, tensor in reference.state_dict().items())
    assert all(p.requires_grad for p in reference.parameters())


def test_sft_weight_keeps_the_chosen_answers_likely(tokenizer):
    rows = [row for row in preferences() if row["kind"] == "premise"][:8]
    pairs = encode_pairs(tokenizer, rows, 256)
    pad = pad_token_id(tokenizer)
    chosen_logps = {}
    for weight in (0.0, 1.0):
        policy, reference = make_model(len(tokenizer), seed=1), make_model(len(tokenizer), seed=1)
        train_dpo(policy, reference, pairs, pad, steps=12, beta=0.5, batch_size=8, lr=2e-2, progress=False,
                  sft_weight=weight)
        chosen_logps[weight] = all_pair_logps(policy, pairs, pad)[0].mean().item()
    assert chosen_logps[1.0] > chosen_logps[0.0] + 1.0


def test_dpo_feeds_each_model_on_its_device(tokenizer):
    pairs = encode_pairs(tokenizer, preferences()[:4], 256)
    pad = pad_token_id(tokenizer)
    policy, reference = ElsewhereModel(len(tokenizer)), ElsewhereModel(len(tokenizer))
    log = train_dpo(policy, reference, pairs, pad, steps=2, batch_size=2, sft_weight=1.0, progress=False)
    chosen, rejected = all_pair_logps(policy, pairs, pad)
    assert len(log) == 2 and chosen.shape == rejected.shape == (4,)
    assert len(reference.seen) == 2 * 2 and len(policy.seen) == 2 * 2 + 2  # ids and mask per call
    assert set(policy.seen) == set(reference.seen) == {ELSEWHERE}
    with pytest.raises(ValueError, match="move both to one device"):
        train_dpo(make_model(len(tokenizer)), reference, pairs, pad, steps=1, batch_size=2, progress=False)


def test_train_dpo_leaves_the_global_random_state_alone(tokenizer):
    pairs = encode_pairs(tokenizer, preferences()[:4], 256)
    policy, reference = make_model(len(tokenizer), seed=1), make_model(len(tokenizer), seed=1)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    train_dpo(policy, reference, pairs, pad_token_id(tokenizer), steps=2, batch_size=2, seed=7, progress=False)
    assert torch.equal(torch.get_rng_state(), state)


def test_pair_batch_puts_chosen_first(tokenizer):
    pairs = encode_pairs(tokenizer, preferences()[:2], 256)
    batch = pair_batch(pairs, pad_token_id(tokenizer))
    first_chosen = torch.tensor(pairs[0][0]["input_ids"])
    assert batch["input_ids"].shape[0] == 4
    assert torch.equal(batch["input_ids"][0, : len(first_chosen)], first_chosen)


def test_encode_pairs_names_the_row_that_is_too_long(tokenizer):
    rows = preferences()[:2]
    rows[1] = {**rows[1], "rejected": "far too long " * 40}
    with pytest.raises(ValueError, match=r"row 1 \(rejected\).*max_length=128"):
        encode_pairs(tokenizer, rows, 128)


def test_preference_accuracy_counts_strict_wins_and_checks_shapes():
    assert preference_accuracy(torch.tensor([1.0, 2.0, 3.0, 0.0]), torch.tensor([0.0, 2.0, 1.0, 5.0])) == 0.5
    with pytest.raises(ValueError, match="equally long"):
        preference_accuracy(torch.zeros(2), torch.zeros(3))
