"""The export-gguf, quantize and chat commands, end to end and on bad input."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from _gguf_fixtures import make_checkpoint
from solar_lab.cli import main
from solar_lab.quantize import tensor_types


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=4)


def test_export_quantize_chat(checkpoint, tmp_path, capsys):
    f16 = tmp_path / "tiny.f16.gguf"
    assert main(["export-gguf", str(checkpoint), str(f16), "--outtype", "f16"]) == 0
    assert "F16" in capsys.readouterr().out
    q8 = tmp_path / "tiny.Q8_0.gguf"
    assert main(["quantize", str(f16), str(q8), "--type", "Q8_0"]) == 0
    assert {t.type for t in tensor_types(q8) if len(t.shape) == 2} == {"Q8_0"}
    capsys.readouterr()
    assert main(["chat", str(q8), "Who are you?", "--max-tokens", "5", "--system", "Be brief."]) == 0
    captured = capsys.readouterr()
    assert "tokens/s" in captured.err and captured.out.endswith("\n")


def test_quantize_reports_fallbacks(checkpoint, tmp_path, capsys):
    f32 = tmp_path / "tiny.gguf"
    main(["export-gguf", str(checkpoint), str(f32)])
    assert main(["quantize", str(f32), str(tmp_path / "tiny.Q2_K.gguf"), "--type", "Q2_K"]) == 0
    assert "blk.1.ffn_down.weight: rows not a multiple of 256, stored as Q4_0" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["chat", "quantize"])
@pytest.mark.parametrize("kind", ["missing", "not-gguf", "truncated"])
def test_bad_model_files_give_one_line(checkpoint, tmp_path, capsys, command, kind):
    path = tmp_path / "model.gguf"
    if kind == "not-gguf":
        path.write_bytes((checkpoint / "model.safetensors").read_bytes())
    elif kind == "truncated":
        main(["export-gguf", str(checkpoint), str(path)])
        path.write_bytes(path.read_bytes()[:5000])
    capsys.readouterr()
    args = [command, str(path), "Hi"] if command == "chat" else [command, str(path), str(tmp_path / "out.gguf")]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"solar-lab {command}: error: ") and error.count("\n") == 1


def test_bad_checkpoint_gives_one_line(tmp_path, capsys):
    assert main(["export-gguf", str(tmp_path), str(tmp_path / "x.gguf")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_truncated_file_does_not_crash_the_process(checkpoint, tmp_path):
    path = tmp_path / "cut.gguf"
    main(["export-gguf", str(checkpoint), str(path)])
    path.write_bytes(path.read_bytes()[: path.stat().st_size - 1000])
    result = subprocess.run(
        [sys.executable, "-m", "solar_lab.cli", "chat", str(path), "Hi"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "cut" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("alias", ["same path", "./name", "symlink", "hard link", "temporary name"])
def test_quantize_refuses_to_write_over_its_input(alias, checkpoint, tmp_path, capsys, monkeypatch):
    source = tmp_path / ("tiny.gguf.tmp" if alias == "temporary name" else "tiny.gguf")
    main(["export-gguf", str(checkpoint), str(source)])
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    out = {
        "same path": str(source),
        "./name": "./tiny.gguf",
        "symlink": "link.gguf",
        "hard link": "hard.gguf",
        "temporary name": "tiny.gguf",
    }[alias]
    if alias == "symlink":
        Path(out).symlink_to(source)
    if alias == "hard link":
        os.link(source, out)
    capsys.readouterr()
    assert main(["quantize", str(source), out]) == 2
    error = capsys.readouterr().err
    assert error.startswith("solar-lab quantize: error: ") and error.count("\n") == 1
    assert f"is the input {source}" in error
    assert source.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == (1 if alias in ("same path", "./name", "temporary name") else 2)


def shard_as(src: Path, name: str) -> dict[str, str]:
    """Store the single weight file as shard ``name``; its index's weight map, for the caller to write."""
    (src / "model.safetensors").rename(src / name)
    with safe_open(src / name, framework="numpy") as file:
        return dict.fromkeys(file.keys(), name)


def write_index(src: Path, weight_map: dict[str, str]) -> None:
    (src / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def _not_sentencepiece(src: Path) -> str:
    (src / "tokenizer.model").write_bytes(b'{"model": {"type": "BPE"}}')
    return "tokenizer.model is not a SentencePiece model"


def _config_missing_a_key(src: Path) -> str:
    config = json.loads((src / "config.json").read_text())
    del config["num_attention_heads"]
    (src / "config.json").write_text(json.dumps(config))
    return "config.json: config is missing num_attention_heads"


def _config_not_json(src: Path) -> str:
    (src / "config.json").write_text("{model_type: llama")
    return "config.json is not valid JSON"


def _truncated_weights(src: Path) -> str:
    path = src / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "not a readable safetensors file"


def _absurd_header_length(src: Path) -> str:
    path = src / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 2**60) + path.read_bytes()[8:])
    return "header too large"


def _shard_missing(src: Path) -> str:
    weight_map = shard_as(src, "model-00001-of-00002.safetensors")
    write_index(src, {**weight_map, "lm_head.weight": "model-00002-of-00002.safetensors"})
    return "lists shard model-00002-of-00002.safetensors, which is missing"


def _shard_outside_the_folder(src: Path) -> str:
    name = "model-00001-of-00001.safetensors"
    write_index(src, dict.fromkeys(shard_as(src, name), f"../{name}"))
    return "which is not a file name in"


def _index_disagrees_with_shard(src: Path) -> str:
    weight_map = shard_as(src, "model-00001-of-00001.safetensors")
    del weight_map["model.norm.weight"]
    write_index(src, weight_map)
    return "holds model.norm.weight, but model.safetensors.index.json places it in None"


def _fewer_layers_than_config(src: Path) -> str:
    config = json.loads((src / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (src / "config.json").write_text(json.dumps(config))
    return "layer 2 lacks 9 tensor(s)"


def _integer_weights(src: Path) -> str:
    with safe_open(src / "model.safetensors", framework="numpy") as file:
        tensors = {name: file.get_tensor(name) for name in file.keys()}
    tensors["model.norm.weight"] = tensors["model.norm.weight"].astype(np.int32)
    save_file(tensors, src / "model.safetensors")
    return "stores tensors as I32"


READER_CHECKS = [
    _config_missing_a_key,
    _config_not_json,
    _truncated_weights,
    _absurd_header_length,
    _shard_missing,
    _shard_outside_the_folder,
    _index_disagrees_with_shard,
    _fewer_layers_than_config,
]
"""Checks of solar_lab.checkpoint, so upscale makes them too, with the same message."""


@pytest.mark.parametrize(
    ("command", "break_checkpoint"),
    [("export-gguf", check) for check in [*READER_CHECKS, _not_sentencepiece, _integer_weights]]
    + [("upscale", check) for check in READER_CHECKS],
)
def test_bad_checkpoints_give_one_line_and_no_file(command, break_checkpoint, checkpoint, tmp_path, capsys):
    src = shutil.copytree(checkpoint, tmp_path / "src")
    expected = break_checkpoint(src)
    (tmp_path / "out").mkdir()
    out = str(tmp_path / "out" / "x")
    assert main([command, str(src), out, *(["--drop", "0", "--quiet"] if command == "upscale" else [])]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"solar-lab {command}: error: ") and error.count("\n") == 1
    assert expected in error
    assert not any((tmp_path / "out").iterdir())


def test_export_refuses_missing_folder_and_writing_over_its_input(checkpoint, tmp_path, capsys):
    assert main(["export-gguf", str(tmp_path / "nowhere"), str(tmp_path / "x.gguf")]) == 2
    error = capsys.readouterr().err
    assert "nowhere is not a directory" in error and error.count("\n") == 1
    src = shutil.copytree(checkpoint, tmp_path / "src")
    weights = (src / "model.safetensors").read_bytes()
    assert main(["export-gguf", str(src), str(src / "model.safetensors")]) == 2
    error = capsys.readouterr().err
    assert "model.safetensors is the input" in error and error.count("\n") == 1
    assert (src / "model.safetensors").read_bytes() == weights


@pytest.mark.parametrize("command", ["export-gguf", "quantize"])
@pytest.mark.parametrize("out", ["a folder", "in a missing folder"])
def test_output_must_be_a_file_in_an_existing_folder(command, out, checkpoint, tmp_path, capsys):
    source = tmp_path / "tiny.gguf"
    main(["export-gguf", str(checkpoint), str(source)])
    (tmp_path / "folder").mkdir()
    path = tmp_path / "folder" if out == "a folder" else tmp_path / "missing" / "x.gguf"
    capsys.readouterr()
    assert main([command, str(checkpoint if command == "export-gguf" else source), str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"solar-lab {command}: error: ") and error.count("\n") == 1
    assert ("is a directory" if out == "a folder" else "missing is not a directory") in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "tiny.gguf"]
    assert not any((tmp_path / "folder").iterdir())
