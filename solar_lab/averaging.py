"""Weight averaging of two fine-tuned models: linear (SOLAR's 0.5/0.5) and SLERP per tensor.

Both models must share one architecture: the same tensor names and shapes. Averaging
works because two fine-tunes of one base stay close in weight space.
"""

from __future__ import annotations

from typing import Mapping

import torch

StateDict = Mapping[str, torch.Tensor]


def check_compatible(first: StateDict, second: StateDict) -> None:
    """ValueError unless both state dicts have the same names, shapes and dtypes."""
    only_first, only_second = sorted(set(first) - set(second)), sorted(set(second) - set(first))
    if only_first or only_second:
        raise ValueError(
            f"the models have different tensors: only in the first {only_first[:3]}, "
            f"only in the second {only_second[:3]}; average models of one architecture"
        )
    for name, tensor in first.items():
        other = second[name]
        if tensor.shape != other.shape or tensor.dtype != other.dtype:
            raise ValueError(
                f"tensor {name!r} differs: {tuple(tensor.shape)} {tensor.dtype} vs "
                f"{tuple(other.shape)} {other.dtype}; average models of one architecture"
            )


def _check_ratio(ratio: float) -> float:
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must lie in [0, 1] (the first model's share), got {ratio}")
    return float(ratio)


def _merge_each(first: StateDict, second: StateDict, merge) -> dict[str, torch.Tensor]:
    check_compatible(first, second)
    merged = {}
    for name, tensor in first.items():
        if tensor.is_floating_point():
            merged[name] = merge(tensor, second[name])
        elif torch.equal(tensor, second[name]):
            merged[name] = tensor.clone()
        else:
            raise ValueError(f"tensor {name!r} is not floating point and differs between the models")
    return merged


def linear_average(first: StateDict, second: StateDict, ratio: float = 0.5) -> dict[str, torch.Tensor]:
    """``ratio * first + (1 - ratio) * second`` for every tensor (ratio 0.5: SOLAR-10.7B-Instruct)."""
    ratio = _check_ratio(ratio)

    def mix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (ratio * a.double() + (1 - ratio) * b.double()).to(a.dtype)

    return _merge_each(first, second, mix)


def slerp_tensor(t: float, v0: torch.Tensor, v1: torch.Tensor, dot_threshold: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation from ``v0`` (t=0) to ``v1`` (t=1), each tensor taken as one vector.

    The angle comes from the normalised vectors; the un-normalised tensors are mixed with
    ``sin((1-t)θ)/sin θ`` and ``sin(tθ)/sin θ``. Nearly parallel tensors fall back to a
    linear mix, as in mergekit.
    """
    a, b = v0.double().flatten(), v1.double().flatten()
    dot = (a / a.norm().clamp(min=1e-8)) @ (b / b.norm().clamp(min=1e-8))
    dot = dot.clamp(-1.0, 1.0)
    if dot.abs() > dot_threshold:
        mixed = (1 - t) * a + t * b
    else:
        theta = torch.acos(dot)
        mixed = (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)
    return mixed.reshape(v0.shape).to(v0.dtype)


def slerp(first: StateDict, second: StateDict, t: float = 0.5) -> dict[str, torch.Tensor]:
    """SLERP every tensor from ``first`` (t=0) towards ``second`` (t=1)."""
    t = _check_ratio(t)
    return _merge_each(first, second, lambda a, b: slerp_tensor(t, a, b))
