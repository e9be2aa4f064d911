"""Continued pretraining of a Llama/Mistral checkpoint with PyTorch FSDP2, on one process or many.

    torchrun --nproc-per-node 8 -m solar_lab.cli cpt MODEL_DIR DATA OUT_DIR --steps 1000 --seq-len 4096

The same command runs as one plain process (``solar-lab cpt ...``), as several CPU processes
(gloo) or on N GPUs of one or many nodes (NCCL): torchrun starts the processes and tells
each its rank; the code does not change. Why torchrun and ``fully_shard`` directly, rather
than ``accelerate launch`` with an FSDP config: every step of sharded training is then a
line of this file (shard each layer, load each tensor's shard, gather them again for the
export), there is no second configuration to keep in step with the code, and torchrun is
what Accelerate and the cluster recipes start underneath anyway.

A run, top to bottom:

1. check the inputs before anything starts (``checked_inputs``);
2. build the model on the meta device (shapes, no memory), shard each decoder layer and then
   the root with ``fully_shard``, allocate only this process's shards, and fill them from
   the checkpoint one tensor at a time (``sharded_model``, ``load_weights``);
3. train as ``training.fit`` does (AdamW with decay on matrices only, warm-up then cosine
   decay, gradient norm clipped to 1), with gradient accumulation; the loss of a step is the
   mean over the global batch, so N processes follow the same curve as one;
4. every ``--save-every`` steps and at the end, save a sharded checkpoint (``cpt_checkpoint``);
5. gather the weights into an ordinary Hugging Face safetensors checkpoint, ``OUT_DIR/model``,
   which ``solar-lab export-gguf`` reads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed._composable import checkpoint as checkpoint_activations
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import distribute_tensor
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from solar_lab import cpt_checkpoint
from solar_lab.architecture import DecoderShape, meta_model
from solar_lab.checkpoint import CONFIG_FILE, read_array, read_config, read_tensors
from solar_lab.checkpoint_upscale import copy_side_files, mergekit_dtype, publish
from solar_lab.cpt_data import BlockStream
from solar_lab.memory_plan import GIB, plan_memory
from solar_lab.training import CLIP, adamw, causal_lm_loss, learning_rate

TRAINED_MODEL_TYPES = ("llama", "mistral")
MODEL_FOLDER = "model"
PRECISIONS = ("bf16", "fp32")
ERROR_GRACE_SECONDS = 5
"""How long a process other than 0 waits before saying an error itself (one that process 0 did not meet)."""


@dataclass(frozen=True)
class Recipe:
    """What a run trains on and how; a resumed run must ask for the very same recipe."""

    data: str
    steps: int
    seq_len: int
    batch_size: int = 1
    """Blocks each process trains on per micro-step."""
    grad_accum: int = 1
    """Micro-steps whose gradients add up to one optimizer step."""
    lr: float = 1e-4
    warmup: int = 0
    schedule: str = "cosine"
    weight_decay: float = 0.1
    precision: str = "fp32"
    """bf16: weights gathered and multiplied in bf16, gradients reduced and stored in fp32."""
    text_field: str = "text"
    split: str = "train"
    data_config: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.steps, self.seq_len - 1, self.batch_size, self.grad_accum) < 1 or self.warmup < 0:
            raise ValueError("steps, batch_size and grad_accum must be at least 1, seq_len at least 2, warmup >= 0")
        if self.schedule not in ("constant", "cosine") or self.precision not in PRECISIONS:
            raise ValueError(f"schedule must be constant or cosine, precision one of {', '.join(PRECISIONS)}")

    def global_batch(self, processes: int) -> int:
        """Blocks in one optimizer step over all processes."""
        return self.batch_size * self.grad_accum * processes


def bf16_gpus() -> bool:
    """Whether this machine has GPUs that compute in bf16 (an A100 or H100 does, a T4 does not)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def is_main() -> bool:
    """Whether this is process 0 (or the only one), the one that prints and writes shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def say(message: str) -> None:
    if is_main():
        print(message, flush=True)


def checked_inputs(
    model_dir: Path, out: Path, recipe: Recipe, resume: bool
) -> tuple[DecoderShape, PreTrainedTokenizerBase]:
    """Everything that can be checked before a process group exists: the model, the recipe, OUT_DIR."""
    config, shape = read_config(model_dir, DecoderShape.from_config)
    if config["model_type"] not in TRAINED_MODEL_TYPES:
        raise ValueError(
            f"{model_dir} holds a {config['model_type']} model; cpt trains {', '.join(TRAINED_MODEL_TYPES)}"
        )
    context = config.get("max_position_embeddings")
    if context is not None and recipe.seq_len > context:
        raise ValueError(f"--seq-len {recipe.seq_len} is over the model's context of {context} tokens")
    if recipe.precision == "bf16" and not bf16_gpus():
        raise ValueError("bf16 mixed precision needs GPUs that compute in bf16; train in fp32 here")
    source, target = model_dir.resolve(), out.resolve()
    if target.is_relative_to(source) or source.is_relative_to(target):
        raise ValueError(f"OUT_DIR {out} and MODEL_DIR {model_dir} overlap; choose an OUT_DIR outside the model")
    saved = cpt_checkpoint.latest(out)
    if saved is not None and not resume:
        raise ValueError(
            f"{out} holds a checkpoint ({saved.name}); pass --resume to continue it or choose another OUT_DIR"
        )
    if saved is None and (out / MODEL_FOLDER).exists():
        raise ValueError(f"{out} already holds a trained model; choose another OUT_DIR")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError):
        raise ValueError(
            f"{model_dir} has no tokenizer that transformers can load; "
            "copy the base model's tokenizer files beside config.json"
        ) from None
    if tokenizer.bos_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer in {model_dir} has no <s> or no </s> token to put around each document")
    if len(tokenizer) > shape.vocab_size:
        raise ValueError(
            f"the tokenizer in {model_dir} has {len(tokenizer)} tokens, the model only {shape.vocab_size}"
        )
    return shape, tokenizer


def check_resumable(
    progress: dict[str, Any], folder: Path, shape: DecoderShape, recipe: Recipe, processes: int
) -> None:
    """A checkpoint continues only the same model, the same recipe and the same number of processes."""
    for what, now in (("model", asdict(shape)), ("recipe", asdict(recipe))):
        saved = progress.get(what) or {}
        if differing := [key for key in now if saved.get(key) != now[key]]:
            key = differing[0]
            advice = "choose another OUT_DIR" if what == "model" else "resume with the options it was started with"
            raise ValueError(
                f"{folder} was saved for another {what} ({key} {saved.get(key)}, not {now[key]}); {advice}"
            )
    if progress.get("processes") != processes:
        raise ValueError(
            f"{folder} was saved by {progress.get('processes')} processes; resume with as many "
            "(each process's random state is saved)"
        )


def join_processes() -> torch.device:
    """Join the process group torchrun describes (or make a group of one); this process's device."""
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda and local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"process {local_rank} of this node has no GPU of its own ({torch.cuda.device_count()} here); "
            "start at most one process per GPU, or hide the GPUs (CUDA_VISIBLE_DEVICES=) to train on CPUs"
        )
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    if "RANK" in os.environ:
        dist.init_process_group(backend, device_id=device if cuda else None)
    else:
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return device


def sharded_model(model_dir: Path, device: torch.device, precision: str, checkpointing: bool) -> PreTrainedModel:
    """The model with each decoder layer, then the rest, sharded over the processes; weights not yet loaded.

    Built on the meta device, so no process ever holds the whole model; ``to_empty`` then
    allocates only this process's shards. With ``checkpointing``, each layer keeps only its
    input for the backward pass and recomputes the rest: PyTorch's composable form, hooks on
    the layer that leave its parameter names alone and combine with ``fully_shard``.
    """
    model = meta_model(AutoConfig.from_pretrained(model_dir)).float()
    model.config.use_cache = False
    policy = MixedPrecisionPolicy()
    if precision == "bf16":
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in model.model.layers:
        if checkpointing:
            checkpoint_activations(layer)
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    model.to_empty(device=device)
    rotary = model.model.rotary_emb  # its tables are buffers computed from the config, not weights
    model.model.rotary_emb = type(rotary)(model.config).to(device)
    return model


def load_weights(model: PreTrainedModel, model_dir: Path) -> None:
    """Fill each process's shards: every process reads each tensor in turn and keeps its own rows of it."""
    stored = read_tensors(model_dir)
    if missing := [name for name, _ in model.named_parameters() if name not in stored]:
        raise ValueError(f"{model_dir} lacks {len(missing)} of the model's tensors, e.g. {missing[0]}")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if stored[name].shape != tuple(param.shape):
                raise ValueError(
                    f"{model_dir}: {name} has shape {stored[name].shape}, config.json implies {tuple(param.shape)}"
                )
            full = torch.from_numpy(read_array(stored[name])).to(param.device)
            param.copy_(distribute_tensor(full, param.device_mesh, param.placements, src_data_rank=None))


def parameters_per_process(model: PreTrainedModel, device: torch.device) -> list[int]:
    """How many parameter values each process holds."""
    held = torch.tensor([sum(param.to_local().numel() for param in model.parameters())], device=device)
    counts = [torch.zeros_like(held) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, held)
    return [int(count.item()) for count in counts]


def export_model(
    model: PreTrainedModel, model_dir: Path, out: Path, dtype: torch.dtype, max_shard_bytes: int
) -> Path:
    """Gather each tensor in turn into process 0 and write ``out/model``: config, safetensors, tokenizer.

    Process 0 holds the whole model once, in ``dtype`` (the source checkpoint's), in CPU memory.
    """
    from huggingface_hub import save_torch_state_dict

    state = {}
    with torch.no_grad():
        for name, param in model.named_parameters():
            full = param.full_tensor()
            if is_main():
                state[name] = full.to("cpu", dtype)
    target = out / MODEL_FOLDER
    if is_main():
        folder = Path(tempfile.mkdtemp(prefix=f"{MODEL_FOLDER}.tmp-", dir=out))
        try:
            folder.chmod(0o755)
            save_torch_state_dict(state, folder, max_shard_size=max_shard_bytes)
            shutil.copy2(model_dir / CONFIG_FILE, folder / CONFIG_FILE)
            copy_side_files(model_dir, folder)
            publish(folder, target, force=True)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    dist.barrier()
    return target


def train_step(
    model: PreTrainedModel, optimizer: torch.optim.Optimizer, share: torch.Tensor, recipe: Recipe, lr: float
) -> torch.Tensor:
    """One optimizer step on this process's share of the global batch; returns its mean loss on this process.

    FSDP averages the gradients over the processes as it reduce-scatters them, so the step
    is the one a single process would take on the whole global batch. It does so after every
    micro-step, adding into this process's gradient shard: more traffic than once a step, but
    no process ever holds a full set of gradients.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = torch.zeros((), device=share.device)
    for micro_batch in share.split(recipe.batch_size):
        micro_loss = causal_lm_loss(model, micro_batch) / recipe.grad_accum
        micro_loss.backward()
        loss += micro_loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def progress_line(
    step: int, steps: int, loss: float, lr: float, tokens_per_second: float, device: torch.device
) -> str:
    line = f"step {step}/{steps}  loss {loss:.4f}  lr {lr:.2e}  {tokens_per_second:,.0f} tokens/s"
    if device.type == "cuda":
        line += f"  peak {torch.cuda.max_memory_allocated(device) / GIB:.2f} GiB"
    return line


def train(
    model_dir: Path,
    out: Path,
    recipe: Recipe,
    *,
    checkpointing: bool = False,
    save_every: int = 100,
    log_every: int = 10,
    resume: bool = False,
    max_shard_bytes: int = 5 * 10**9,
) -> Path:
    """Continue pretraining ``model_dir`` on ``recipe.data``; returns the exported model's folder."""
    shape, tokenizer = checked_inputs(model_dir, out, recipe, resume)
    device = join_processes()
    try:
        return train_in_group(model_dir, out, recipe, shape, tokenizer, device, checkpointing=checkpointing,
                              save_every=save_every, log_every=log_every, max_shard_bytes=max_shard_bytes)
    finally:
        dist.destroy_process_group()


def train_in_group(
    model_dir: Path, out: Path, recipe: Recipe, shape: DecoderShape, tokenizer: PreTrainedTokenizerBase,
    device: torch.device, *, checkpointing: bool, save_every: int, log_every: int, max_shard_bytes: int,
) -> Path:
    """``train``'s work once the processes have joined."""
    rank, processes = dist.get_rank(), dist.get_world_size()
    saved = cpt_checkpoint.latest(out)
    progress: dict[str, Any] = {"step": 0, "data": None, "losses": []}
    if saved is not None:
        progress = cpt_checkpoint.read_progress(saved)
        check_resumable(progress, saved, shape, recipe, processes)
    stream = BlockStream(recipe.data, tokenizer, recipe.seq_len, recipe.global_batch(processes),
                         text_field=recipe.text_field, split=recipe.split, config_name=recipe.data_config,
                         position=progress["data"])
    try:
        # the first batch now, so that the data's errors come before the model loads
        ready = [stream.next_batch()] if progress["step"] < recipe.steps else []
        torch.manual_seed(recipe.seed + rank)
        model = sharded_model(model_dir, device, recipe.precision, checkpointing)
        load_weights(model, model_dir)
        optimizer = adamw(model, recipe.lr, recipe.weight_decay)
        if saved is not None:
            cpt_checkpoint.load(saved, model, optimizer, device)
            say(f"resumed from {saved} (step {progress['step']})")
        held = parameters_per_process(model, device)
        plan = plan_memory(shape, processes, seq_len=recipe.seq_len, micro_batch=recipe.batch_size,
                           compute_bytes=2 if recipe.precision == "bf16" else 4, checkpointing=checkpointing)
        say(f"{processes} process(es) on {device.type} ({dist.get_backend()}), "
            f"global batch {recipe.global_batch(processes)} blocks of {recipe.seq_len} tokens")
        shares = ", ".join(f"{count:,}" for count in held)
        say(f"{shape.total_parameters():,} parameters, held per process: {shares}; "
            f"memory plan per process: {plan.total / 2**20:,.1f} MiB")
        losses, step_seconds = list(progress["losses"]), []
        tokens_per_step = recipe.global_batch(processes) * recipe.seq_len
        model.train()
        for step in range(progress["step"], recipe.steps):
            started = time.perf_counter()
            lr = learning_rate(step, recipe.steps, recipe.lr, recipe.warmup, recipe.schedule)
            batch = ready.pop() if ready else stream.next_batch()
            loss = train_step(model, optimizer, batch[rank::processes].to(device), recipe, lr)
            dist.all_reduce(loss)  # a sum: gloo has no average
            losses.append(loss.item() / processes)
            step_seconds.append(time.perf_counter() - started)
            timed = step_seconds[1:] or step_seconds  # the first step warms up: time the others
            throughput = {"tokens_per_second": len(timed) * tokens_per_step / sum(timed), "plan_bytes": plan.total}
            if device.type == "cuda":
                throughput["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
            done = step + 1
            if done % log_every == 0 or done == recipe.steps:
                say(progress_line(done, recipe.steps, losses[-1], lr, throughput["tokens_per_second"], device))
            if done % save_every == 0 or done == recipe.steps:
                folder = cpt_checkpoint.save(out, done, model, optimizer, {
                    "step": done, "processes": processes, "model": asdict(shape), "recipe": asdict(recipe),
                    "data": stream.position(), "losses": losses, "parameters_per_process": held,
                    "throughput": throughput,
                }, device)
                say(f"saved {folder}")
    finally:
        stream.close()
    stored_dtype = getattr(torch, mergekit_dtype(read_tensors(model_dir)))  # mergekit spells dtypes as torch does
    exported = export_model(model, model_dir, out, stored_dtype, max_shard_bytes)
    say(f"wrote {exported}")
    return exported


def main(args: argparse.Namespace) -> int:
    """``solar-lab cpt``: each process runs this; errors are said once, by process 0."""
    recipe = Recipe(
        data=args.data, steps=args.steps, seq_len=args.seq_len, batch_size=args.batch_size,
        grad_accum=args.grad_accum, lr=args.lr, warmup=args.warmup, schedule=args.schedule,
        weight_decay=args.weight_decay,
        precision=args.precision or ("bf16" if bf16_gpus() else "fp32"),
        text_field=args.text_field, split=args.split, data_config=args.data_config, seed=args.seed,
    )
    try:
        train(Path(args.model), Path(args.out), recipe, checkpointing=args.activation_checkpointing,
              save_every=args.save_every, log_every=args.log_every, resume=args.resume,
              max_shard_bytes=args.max_shard_size)
    except (ValueError, OSError) as error:
        if is_main():
            raise
        time.sleep(ERROR_GRACE_SECONDS)  # process 0 meets the same error and says it, then torchrun stops the rest
        raise type(error)(f"process {os.environ['RANK']}: {error}") from None
    return 0
