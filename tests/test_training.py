"""The training loop: it learns, reproduces, decays only matrices; its held-out loss is plain cross-entropy."""

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from _device_fixtures import ELSEWHERE, ElsewhereModel
from solar_lab.training import adamw, evaluate_loss, fit, learning_rate, shuffled_batches, token_blocks, train


def tiny_model(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return LlamaForCausalLM(config)


def counting_blocks(rows: int = 64, length: int = 16) -> torch.Tensor:
    """Rows that count up by a random step mod 32: easy to learn, impossible to guess at init."""
    generator = torch.Generator().manual_seed(0)
    starts = torch.randint(0, 32, (rows, 1), generator=generator)
    steps = torch.randint(1, 4, (rows, 1), generator=generator)
    return (starts + steps * torch.arange(length)) % 32


def test_training_lowers_held_out_loss():
    blocks = counting_blocks()
    model = tiny_model()
    log = train(model, blocks[:48], steps=60, batch_size=8, lr=1e-2, warmup=5, seed=0,
                eval_blocks=blocks[48:], eval_every=20, progress=False)
    assert log.eval_steps == [0, 20, 40, 60]
    assert log.eval_loss[0] > math.log(32) - 0.5
    assert log.eval_loss[-1] < log.eval_loss[0] - 1.5
    assert len(log.train_loss) == 60 and log.eval_loss[-1] == pytest.approx(evaluate_loss(model, blocks[48:]))


def test_same_seed_same_run():
    blocks = counting_blocks()
    logs = [train(tiny_model(), blocks, steps=5, batch_size=8, seed=1, progress=False) for _ in range(2)]
    other = train(tiny_model(), blocks, steps=5, batch_size=8, seed=2, progress=False)
    assert logs[0].train_loss == logs[1].train_loss != other.train_loss


def test_training_leaves_the_global_random_state_alone():
    model, blocks = tiny_model(), counting_blocks()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    train(model, blocks, steps=3, batch_size=8, seed=5, progress=False)
    assert torch.equal(torch.get_rng_state(), state)


def test_every_batch_goes_to_the_model_device():
    model, blocks = ElsewhereModel(vocab_size=32), counting_blocks(rows=16)
    log = train(model, blocks[:12], steps=3, batch_size=4, eval_blocks=blocks[12:], eval_every=1, progress=False)
    assert len(log.train_loss) == 3 and log.eval_steps == [0, 1, 2, 3]
    assert len(model.seen) == 2 * 3 + 2 * 4 and set(model.seen) == {ELSEWHERE}  # input_ids and labels, each call


def test_evaluate_loss_is_mean_next_token_cross_entropy():
    blocks, model = counting_blocks(rows=5), tiny_model()
    with torch.no_grad():
        logits = model(input_ids=blocks).logits[:, :-1]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 32), blocks[:, 1:].reshape(-1))
    assert evaluate_loss(model, blocks, batch_size=2) == pytest.approx(expected.item(), rel=1e-5)


class Characters:
    """A stand-in tokenizer: one id per character, bos 1, eos 2."""

    bos_token_id, eos_token_id = 1, 2

    def __call__(self, texts, add_special_tokens=True):
        return {"input_ids": [[10 + ord(c) - ord("a") for c in text] for text in texts]}


def test_token_blocks_wrap_documents_and_cut_rows():
    blocks = token_blocks(Characters(), ["abc", "de", "fgh"], block_size=4)
    assert blocks.tolist() == [[1, 10, 11, 12], [2, 1, 13, 14], [2, 1, 15, 16]]
    with pytest.raises(ValueError, match="fewer than one block"):
        token_blocks(Characters(), ["a"], block_size=8)


def test_learning_rate_schedules():
    assert learning_rate(0, 100, 1.0, 10, "cosine") == pytest.approx(0.1)
    assert learning_rate(10, 100, 1.0, 10, "cosine") == pytest.approx(1.0)
    assert learning_rate(55, 100, 1.0, 10, "cosine") == pytest.approx(0.5)
    assert learning_rate(99, 100, 1.0, 10, "constant") == 1.0


def test_shuffled_batches_walk_epochs_without_repeats():
    batches = shuffled_batches(6, 2, seed=0)
    epoch = [i for _ in range(3) for i in next(batches)]
    assert sorted(epoch) == list(range(6))
    assert sorted(next(shuffled_batches(3, 8, seed=0))) == [0, 1, 2]
    first = [next(shuffled_batches(50, 5, seed)) for seed in (1, 1, 2)]
    assert first[0] == first[1] != first[2]
    with pytest.raises(ValueError, match="positive batch size"):
        next(shuffled_batches(3, 0, seed=0))


def test_weight_decay_shrinks_matrices_only():
    model = tiny_model()
    assert {len(group["params"]) for group in adamw(model, 1e-3, 0.1).param_groups} == {
        sum(p.ndim >= 2 for p in model.parameters()), sum(p.ndim < 2 for p in model.parameters())}
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    def zero_gradient(batch: None) -> torch.Tensor:
        """A loss whose gradient is zero: only weight decay moves the weights."""
        return sum(p.sum() for p in model.parameters()) * 0.0

    seen: list[int] = []
    fit(model, lambda: None, zero_gradient, steps=3, lr=0.5, weight_decay=0.2, progress=False, after_step=seen.append)
    assert seen == [0, 1, 2, 3]
    for name, p in model.named_parameters():
        factor = (1 - 0.5 * 0.2) ** 3 if p.ndim >= 2 else 1.0
        assert torch.allclose(p, before[name] * factor), name


def test_bad_arguments_are_refused():
    blocks = counting_blocks(rows=4)
    with pytest.raises(ValueError, match="schedule"):
        train(tiny_model(), blocks, 1, batch_size=2, schedule="linear", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train(tiny_model(), blocks, 1, batch_size=5, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train(tiny_model(), blocks, -1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        evaluate_loss(tiny_model(), blocks[0])
