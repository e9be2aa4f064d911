"""The solar-lab command as a core install runs it (no [gguf] extra), and its usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from solar_lab import gguf_commands
from solar_lab.cli import main

WITHOUT_GGUF_EXTRA = """
import runpy, sys
sys.modules.update(llama_cpp=None, gguf=None)  # from here on, importing either fails as if not installed
runpy.run_module("solar_lab.cli", run_name="__main__", alter_sys=True)
"""
INSTALL_HINT = 'is not installed; this command needs: pip install "solar-lab[gguf]"'


def core_install(*args: str) -> subprocess.CompletedProcess:
    """``python -m solar_lab.cli ARGS`` in a process where llama_cpp and gguf cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_GGUF_EXTRA, *args], capture_output=True, text=True, timeout=120
    )


def tiny_checkpoint(directory: Path, n_layers: int = 4, width: int = 8) -> Path:
    """A random Llama checkpoint written with numpy alone: config.json and model.safetensors."""
    directory.mkdir()
    config = {
        "model_type": "llama",
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": n_layers,
        "num_attention_heads": 2,
        "vocab_size": 16,
    }
    (directory / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    shapes = {
        "model.embed_tokens.weight": (16, width),
        "model.norm.weight": (width,),
        "lm_head.weight": (16, width),
    }
    for layer in range(n_layers):
        shapes[f"model.layers.{layer}.self_attn.q_proj.weight"] = (width, width)
        shapes[f"model.layers.{layer}.mlp.up_proj.weight"] = (2 * width, width)
        shapes[f"model.layers.{layer}.input_layernorm.weight"] = (width,)
    tensors = {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in shapes.items()}
    save_file(tensors, directory / "model.safetensors")
    return directory


def test_help_and_upscale_need_no_gguf_extra(tmp_path):
    shown = core_install("--help")
    assert shown.returncode == 0, shown.stderr
    assert all(command in shown.stdout for command in ("upscale", "export-gguf", "quantize", "chat"))

    src = tiny_checkpoint(tmp_path / "src")
    done = core_install("upscale", str(src), str(tmp_path / "out"), "--drop", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "config.json").read_text())["num_hidden_layers"] == 6
    assert (tmp_path / "out" / "model.safetensors").is_file()


@pytest.mark.parametrize("command", ["export-gguf", "quantize", "chat"])
def test_gguf_commands_without_the_extra_say_how_to_install_it(command, tmp_path):
    src = tiny_checkpoint(tmp_path / "src")
    args = {
        "export-gguf": [str(src), str(tmp_path / "x.gguf")],
        "quantize": [str(tmp_path / "x.gguf"), str(tmp_path / "x.Q4_K_M.gguf")],
        "chat": [str(tmp_path / "x.gguf"), "Hi"],
    }[command]
    result = core_install(command, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"solar-lab {command}: error: ") and result.stderr.count("\n") == 1
    assert INSTALL_HINT in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["src"]


def test_parser_choices_match_the_backends():
    from solar_lab import gguf_export, quantize

    assert sorted(gguf_commands.OUTTYPES) == sorted(gguf_export.OUTTYPES)
    assert gguf_commands.QUANT_TYPES == tuple(quantize.QUANT_TYPES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["chat", "m.gguf", "Hi", "--max-tokens", "-5"], "--max-tokens: '-5' is not a whole number"),
        (["chat", "m.gguf", "Hi", "--max-tokens", "0"], "--max-tokens: '0' is not a whole number"),
        (["chat", "m.gguf", "Hi", "--n-ctx", "0"], "--n-ctx: '0' is not a whole number of at least 1"),
        (["quantize", "a.gguf", "b.gguf", "--type", "Q9"], "invalid choice: 'Q9'"),
        (["upscale", "a", "b"], "the following arguments are required: --drop/-m"),
    ],
)
def test_usage_errors_are_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(" ".join(["solar-lab", *args[:1]]) + ": error: ")
    assert message in captured.err
