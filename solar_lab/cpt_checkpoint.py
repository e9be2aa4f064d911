"""Training checkpoints of a sharded run: every process saves its own shards, a checkpoint appears only complete.

A checkpoint is a folder ``OUT_DIR/checkpoints/step-000040`` holding

- the model's and the optimizer's shards, written by ``torch.distributed.checkpoint`` (DCP)
  as safetensors files (``HuggingFaceStorageWriter``): each process writes the pieces it holds
  together with their offsets in the full tensors, and DCP finds on load which pieces each
  process needs;
- each process's random-number state, ``rng.cpu.rank<r>`` (and ``rng.cuda.rank<r>`` on GPUs),
  which is why a run resumes with as many processes as it was saved by;
- ``progress.json``: the step, the data position, the run's recipe, the model's shape and the
  losses so far.

Safetensors rather than DCP's default format, because the default stores its index, and
every value that is not a tensor, with pickle: loading it may run code. The optimizer's
settings (learning rate, betas) are not saved: the command sets them from its recipe.

A save writes ``step-000040.tmp`` and renames it once every process has written its shards
and ``progress.json`` is in; only then is the previous checkpoint removed. A crash during a
save leaves the last complete checkpoint as it was; the unfinished folder is never read,
and the next save of that step replaces it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import HuggingFaceStorageReader, HuggingFaceStorageWriter
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from solar_lab.checkpoint import read_json

CHECKPOINTS = "checkpoints"
PROGRESS_FILE = "progress.json"
UNFINISHED = ".tmp"


def step_folder(out: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives."""
    return out / CHECKPOINTS / f"step-{step:06d}"


def latest(out: Path) -> Path | None:
    """The newest complete checkpoint in ``out`` (one with its progress.json), or None."""
    complete = [
        folder for folder in (out / CHECKPOINTS).glob("step-*")
        if not folder.name.endswith(UNFINISHED) and (folder / PROGRESS_FILE).is_file()
    ]
    return max(complete, key=lambda folder: folder.name, default=None)


def read_progress(folder: Path) -> dict[str, Any]:
    """A checkpoint's progress.json."""
    return read_json(folder / PROGRESS_FILE)


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's random-number states, under names that carry its rank."""
    rank = dist.get_rank()
    states = {f"rng.cpu.rank{rank}": torch.get_rng_state()}
    if device.type == "cuda":
        states[f"rng.cuda.rank{rank}"] = torch.cuda.get_rng_state(device)
    return states


def save(out: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         progress: dict[str, Any], device: torch.device) -> Path:
    """Save the training state after ``step`` steps (every process calls this); returns the folder."""
    folder = step_folder(out, step)
    unfinished = folder.with_name(folder.name + UNFINISHED)
    if dist.get_rank() == 0:
        shutil.rmtree(unfinished, ignore_errors=True)
        unfinished.mkdir(parents=True)
    dist.barrier()
    model_state, optimizer_state = get_state_dict(model, optimizer)
    tensors = {"model": model_state, "optimizer": optimizer_state["state"], **rng_states(device)}
    dcp.save(tensors, storage_writer=HuggingFaceStorageWriter(str(unfinished), save_distributed=True))
    dist.barrier()
    if dist.get_rank() == 0:
        (unfinished / PROGRESS_FILE).write_text(json.dumps(progress, indent=1) + "\n")
        unfinished.rename(folder)
        for older in (out / CHECKPOINTS).glob("step-*"):
            if older.name < folder.name:
                shutil.rmtree(older)
    dist.barrier()
    return folder


def load(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Load a checkpoint into the sharded ``model`` and its ``optimizer``, and restore this process's random state."""
    model_state, optimizer_state = get_state_dict(model, optimizer)  # the shapes to fill, on this process
    rng = {name: torch.empty_like(state) for name, state in rng_states(device).items()}
    tensors = {"model": model_state, "optimizer": optimizer_state["state"], **rng}
    dcp.load(tensors, storage_reader=HuggingFaceStorageReader(str(folder)))
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optimizer_state)
    for name, state in rng.items():
        if name.startswith("rng.cpu."):
            torch.set_rng_state(state)
        else:
            torch.cuda.set_rng_state(state, device)
