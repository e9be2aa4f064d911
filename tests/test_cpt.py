"""solar-lab cpt: 2 CPU processes follow 1, each holds half the model, a killed run resumes to the same weights.

One process runs inside pytest (a process group of one); two run under torchrun, over gloo.
All runs share one recipe: 24 steps of a global batch of 4 blocks of 32 tokens, a checkpoint
every 3 steps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from _cpt_fixtures import CONTEXT, make_tiny_llama, write_lines
from _gguf_fixtures import sentences
from solar_lab import cpt_checkpoint
from solar_lab.architecture import DecoderShape
from solar_lab.checkpoint import read_config
from solar_lab.cli import main
from solar_lab.memory_plan import plan_memory

STEPS, SEQ_LEN = 24, 32
RECIPE = ["--steps", str(STEPS), "--seq-len", str(SEQ_LEN), "--grad-accum", "2", "--lr", "3e-3", "--warmup", "3",
          "--save-every", "3", "--log-every", "1"]
ONE_PROCESS = [*RECIPE, "--batch-size", "2"]  # 2 blocks × 2 micro-steps × 1 process
TWO_PROCESSES = [*RECIPE, "--batch-size", "1"]  # 1 block × 2 micro-steps × 2 processes
LOSS_TOLERANCE = 1e-5
"""Two processes sum gradients in another order than one: the losses agree to float32 rounding, not bit for bit."""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Runs inside pytest use one thread, as torchrun gives each of several processes (more only contend for the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cpt")
    return make_tiny_llama(root / "model"), write_lines(root / "corpus.txt", sentences(300, seed=3))


def torchrun(*args: str, processes: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
            "-m", "solar_lab.cli", "cpt", *args]


def run_two(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(torchrun(*args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def progress(out: Path) -> dict:
    return cpt_checkpoint.read_progress(cpt_checkpoint.latest(out))


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


@pytest.fixture(scope="module")
def one_process(inputs, tmp_path_factory) -> Path:
    model, data = inputs
    out = tmp_path_factory.mktemp("one") / "run"
    assert main(["cpt", str(model), str(data), str(out), *ONE_PROCESS]) == 0
    return out


@pytest.fixture(scope="module")
def two_processes(inputs, tmp_path_factory) -> Path:
    model, data = inputs
    out = tmp_path_factory.mktemp("two") / "run"
    run_two(str(model), str(data), str(out), *TWO_PROCESSES)
    return out


@pytest.mark.slow  # torchrun starts two processes: tens of seconds
def test_two_processes_follow_the_one_process_loss_curve(one_process, two_processes):
    one, two = progress(one_process)["losses"], progress(two_processes)["losses"]
    assert len(one) == len(two) == STEPS and one[-1] < one[0] - 0.5  # it learns
    assert max(abs(a - b) for a, b in zip(one, two)) < LOSS_TOLERANCE
    final_one, final_two = weights(one_process), weights(two_processes)
    assert all(torch.allclose(final_one[name], final_two[name], atol=1e-4) for name in final_one)


@pytest.mark.slow  # torchrun starts two processes: tens of seconds
def test_each_process_holds_half_of_the_parameters_as_the_memory_plan_says(inputs, two_processes):
    shape = read_config(inputs[0], DecoderShape.from_config)[1]
    held = progress(two_processes)["parameters_per_process"]
    assert sum(held) == shape.total_parameters() and len(held) == 2
    planned = plan_memory(shape, 2, seq_len=SEQ_LEN, compute_bytes=4).parameters
    assert all(abs(4 * count - planned) / planned < 0.01 for count in held)


@pytest.mark.slow  # torchrun starts two processes: tens of seconds
def test_the_export_is_an_ordinary_checkpoint_that_export_gguf_reads(inputs, two_processes, tmp_path, capsys):
    exported = two_processes / "model"
    assert sorted(path.name for path in exported.iterdir()) == sorted(path.name for path in inputs[0].iterdir())
    assert not any(torch.equal(tensor, load_file(inputs[0] / "model.safetensors")[name])
                   for name, tensor in weights(two_processes).items() if tensor.ndim == 2)  # every matrix trained
    assert main(["export-gguf", str(exported), str(tmp_path / "toy.gguf")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "toy.gguf").stat().st_size > 4 * 100_000


def kill_after_first_save(args: list[str]) -> None:
    """Start two processes, and kill torchrun and both of them (SIGKILL) once the first checkpoint is saved."""
    launcher = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in launcher.stdout:
        if line.startswith("saved "):
            tree = psutil.Process(launcher.pid)
            for process in [*tree.children(recursive=True), tree]:
                process.kill()
            break
    launcher.wait(timeout=60)
    launcher.stdout.close()


@pytest.mark.slow  # torchrun starts two processes: tens of seconds
def test_a_killed_run_resumes_to_exactly_the_weights_of_an_uninterrupted_one(inputs, two_processes, tmp_path):
    model, data = inputs
    out = tmp_path / "run"
    kill_after_first_save(torchrun(str(model), str(data), str(out), *TWO_PROCESSES))
    killed_at = progress(out)["step"]
    assert killed_at < STEPS and not (out / "model").exists()

    resumed = run_two(str(model), str(data), str(out), *TWO_PROCESSES, "--resume")
    assert f"resumed from {cpt_checkpoint.step_folder(out, killed_at)}" in resumed.stdout
    assert progress(out)["losses"] == progress(two_processes)["losses"]
    final, uninterrupted = weights(out), weights(two_processes)
    assert final.keys() == uninterrupted.keys()
    assert all(torch.equal(final[name], uninterrupted[name]) for name in final)
    assert sorted(os.listdir(out / "checkpoints")) == [f"step-{STEPS:06d}"]


class SaveThatFailsMidway:
    """``torch.distributed.checkpoint`` whose second save writes its shards, then finds the disk full."""

    def __init__(self) -> None:
        self.saves = 0

    def save(self, *args, **kwargs):
        self.saves += 1
        torch.distributed.checkpoint.save(*args, **kwargs)
        if self.saves == 2:
            raise OSError(28, "No space left on device")


def test_a_crash_during_a_save_keeps_the_last_checkpoint(inputs, one_process, tmp_path, monkeypatch, capsys):
    model, data = inputs
    out = tmp_path / "run"
    monkeypatch.setattr(cpt_checkpoint, "dcp", SaveThatFailsMidway())
    assert main(["cpt", str(model), str(data), str(out), *ONE_PROCESS]) == 2
    assert capsys.readouterr().err == "solar-lab cpt: error: [Errno 28] No space left on device\n"
    assert sorted(os.listdir(out / "checkpoints")) == ["step-000003", "step-000006.tmp"]
    saved = load_file(next((out / "checkpoints" / "step-000003").glob("*.safetensors")))
    assert torch.equal(saved["rng.cpu.rank0"], torch.Generator().manual_seed(0).get_state())  # the run's seed, unused

    monkeypatch.undo()
    assert main(["cpt", str(model), str(data), str(out), *ONE_PROCESS, "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    final, uninterrupted = weights(out), weights(one_process)
    assert all(torch.equal(final[name], uninterrupted[name]) for name in final)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def other_llama(root: Path) -> Path:
    return make_tiny_llama(root / "other", hidden_size=32)


def mixtral_config(model: Path, root: Path) -> Path:
    """A folder whose config.json is ``model``'s, relabelled as a Mixtral."""
    folder = root / "mixtral"
    folder.mkdir()
    config = json.loads((model / "config.json").read_text()) | {"model_type": "mixtral"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing checkpoint", "is not a directory; pass a Hugging Face checkpoint folder"),
        ("non-Llama checkpoint", "holds a mixtral model; cpt trains llama, mistral"),
        ("empty dataset", "holds no text"),
        ("sequence over the context", f"--seq-len {CONTEXT + 1} is over the model's context of {CONTEXT} tokens"),
        ("checkpoint of another model", "was saved for another model (hidden_size 64, not 32); choose another OUT_DIR"),
        ("checkpoint without --resume", "holds a checkpoint (step-000024); pass --resume to continue it"),
    ],
)
def test_bad_input_gets_one_line_and_loses_nothing(case, message, inputs, one_process, tmp_path, capsys):
    model, data = inputs
    out, args = tmp_path / "run", []
    if case == "missing checkpoint":
        model = tmp_path / "nothing"
    elif case == "non-Llama checkpoint":
        model = mixtral_config(model, tmp_path)
    elif case == "empty dataset":
        data = write_lines(tmp_path / "empty.txt", ["", " "])
    elif case == "sequence over the context":
        args = ["--seq-len", str(CONTEXT + 1)]
    else:
        out = tmp_path / "saved"
        shutil.copytree(one_process, out)
        model = other_llama(tmp_path) if case == "checkpoint of another model" else model
        args = ["--resume"] if case == "checkpoint of another model" else []
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main(["cpt", str(model), str(data), str(out), *ONE_PROCESS, *args]) == 2
    error = capsys.readouterr().err
    assert error.startswith("solar-lab cpt: error: ") and error.count("\n") == 1
    assert message in error
    assert snapshot(tmp_path) == before


@pytest.mark.slow  # torchrun starts two processes: tens of seconds
def test_more_processes_than_blocks_is_said_once(inputs, tmp_path):
    model, data = inputs
    one_block = write_lines(tmp_path / "short.txt", ["Kalo mi ten arsu vinde."])
    result = subprocess.run(torchrun(str(model), str(one_block), str(tmp_path / "run"), "--steps", "2", "--seq-len", "16"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("solar-lab cpt: error:")]
    assert lines == [f"solar-lab cpt: error: {one_block} makes 1 block(s) of 16 tokens, fewer than the 2 one step "
                     "takes (processes × batch size × accumulation steps)"]
    assert not (tmp_path / "run").exists()


def test_without_the_train_extra_it_says_what_to_install(inputs, tmp_path, monkeypatch, capsys):
    model, data = inputs
    monkeypatch.setitem(sys.modules, "datasets", None)  # from here on, importing it fails as if not installed
    assert main(["cpt", str(model), str(data), str(tmp_path / "run"), *ONE_PROCESS]) == 2
    assert capsys.readouterr().err == (
        'solar-lab cpt: error: datasets is not installed; this command needs: pip install "solar-lab[train]"\n'
    )
