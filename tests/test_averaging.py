"""Weight averaging: endpoints, self-average, SLERP geometry, errors, and mergekit as the reference."""

from __future__ import annotations

import pytest
import torch
from mergekit.merge_methods.slerp import slerp as mergekit_slerp
from safetensors.torch import load_file

from _align_fixtures import make_model
from solar_lab.averaging import check_compatible, linear_average, slerp, slerp_tensor


def state(seed: int) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in make_model(64, seed=seed, layers=1).state_dict().items()}


def test_average_with_itself_is_itself():
    a = state(0)
    for ratio in (0.0, 0.3, 0.5, 1.0):
        merged = linear_average(a, a, ratio)
        assert all(torch.allclose(merged[name], a[name], atol=1e-7) for name in a)
    assert all(torch.equal(slerp(a, a, 0.4)[name], a[name]) for name in a)


def test_ratio_one_and_zero_give_the_endpoints_and_half_the_mean():
    a, b = state(0), state(1)
    assert all(torch.equal(linear_average(a, b, 1.0)[n], a[n]) for n in a)
    assert all(torch.equal(linear_average(a, b, 0.0)[n], b[n]) for n in a)
    half = linear_average(a, b, 0.5)
    assert all(torch.allclose(half[n], (a[n] + b[n]) / 2, atol=1e-7) for n in a)
    assert not torch.equal(half["lm_head.weight"], a["lm_head.weight"])


def test_slerp_endpoints():
    a, b = state(0), state(1)
    assert all(torch.allclose(slerp(a, b, 0.0)[n], a[n], atol=1e-6) for n in a)
    assert all(torch.allclose(slerp(a, b, 1.0)[n], b[n], atol=1e-6) for n in a)


def test_slerp_follows_the_arc():
    x, y = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    middle = slerp_tensor(0.5, x, y)
    assert middle.tolist() == pytest.approx([2**-0.5, 2**-0.5])  # on the unit circle, unlike the linear (0.5, 0.5)
    assert torch.allclose(slerp_tensor(0.3, x, 2 * x), 1.3 * x)  # parallel: linear fallback


@pytest.mark.parametrize("t", [0.25, 0.5, 0.6])
def test_slerp_matches_mergekit(t):
    torch.manual_seed(0)
    v0, v1 = torch.randn(16, 8), torch.randn(16, 8)
    theirs = mergekit_slerp(torch.tensor([t]), v0.unsqueeze(0), v1.unsqueeze(0))[0]
    assert torch.allclose(slerp_tensor(t, v0, v1), theirs, atol=1e-6)


def test_mismatches_and_bad_ratios_raise():
    a, b = state(0), state(1)
    with pytest.raises(ValueError, match="only in the first"):
        check_compatible(a, {k: v for k, v in b.items() if k != "lm_head.weight"})
    with pytest.raises(ValueError, match="'lm_head.weight' differs"):
        linear_average(a, {**b, "lm_head.weight": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match="ratio must lie in"):
        linear_average(a, b, 1.5)
    with pytest.raises(ValueError, match="ratio must lie in"):
        slerp(a, b, -0.1)


def test_linear_average_matches_mergekit_linear(tmp_path):
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    paths = []
    for seed in (0, 1):
        path = tmp_path / f"model{seed}"
        make_model(64, seed=seed, layers=1).save_pretrained(path)
        paths.append(path)
    config = MergeConfiguration.model_validate({
        "merge_method": "linear",
        "dtype": "float32",
        "models": [
            {"model": str(paths[0]), "parameters": {"weight": 0.4}},
            {"model": str(paths[1]), "parameters": {"weight": 0.6}},
        ],
    })
    out = tmp_path / "merged"
    run_merge(config, str(out), MergeOptions(copy_tokenizer=False, write_model_card=False, quiet=True))
    theirs = load_file(out / "model.safetensors")
    ours = linear_average(load_file(paths[0] / "model.safetensors"), load_file(paths[1] / "model.safetensors"), 0.4)
    assert set(theirs) == set(ours)
    assert all(torch.allclose(ours[name], theirs[name], atol=1e-6) for name in ours)
