"""The export-gguf, quantize and chat commands, end to end and on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
