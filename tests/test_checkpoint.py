"""The safetensors checkpoint reader: tensor values read from byte ranges, as safetensors reads them."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from solar_lab.checkpoint import read_array, read_header


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_read_array_gives_the_stored_values_as_float32(dtype, tmp_path):
    tensors = {
        "a": (torch.randn(3, 5, generator=torch.Generator().manual_seed(0)) * 100).to(dtype),
        "b": torch.tensor([1.0, -2.5, 65504.0, 1e-3]).to(dtype),
    }
    save_file(tensors, tmp_path / "w.safetensors")
    for name, stored in read_header(tmp_path / "w.safetensors").items():
        values = read_array(stored)
        assert values.dtype == "float32" and values.shape == tuple(tensors[name].shape)
        assert torch.equal(torch.from_numpy(values), tensors[name].float()), name


def test_read_array_refuses_other_types(tmp_path):
    save_file({"steps": torch.arange(4)}, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="stores a tensor as I64"):
        read_array(read_header(tmp_path / "w.safetensors")["steps"])
