"""The toy's recipe: one frozen dataclass read by tools, notebooks and tests.

Every number that makes the shipped toy models lives here: the world's size, the model's
widths, the steps, batch, learning rates, schedule and seeds of pretraining and of continued
pretraining after depth up-scaling. ``tools/make_toy_models.py`` builds toy-base,
toy-solar-base and the multi-seed result file from it; notebook 02 reads it for its live run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToyRecipe:
    """How the toy base and toy-solar-base are made.

    Measured with ``tools/make_toy_models.py`` on a 2-core x86_64 CPU (torch 2.13, fp32, one process
    with both threads): a base, 2,000 steps, 21-24 minutes; an arm of 800 continued-pretraining steps,
    7-11 minutes (the 6-layer model from scratch with the compute of base and arm, 27 minutes); the
    whole build, three seeds and every baseline, 3.1 hours. Not yet run on a GPU.
    """

    people: int = 4000
    """People in the world (each with five facts)."""
    world_seed: int = 0
    vocab_size: int = 3328
    """Large enough that every name and value is one token."""
    hidden_size: int = 256
    intermediate_size: int = 256
    """Both multiples of 256, so llama.cpp's K-quants quantize every matrix (notebook 04)."""
    layers: int = 4
    drop: int = 1
    """m of depth up-scaling: n layers become 2·(n − m)."""
    block_size: int = 128
    batch_size: int = 32
    """Blocks of ``block_size`` tokens per step."""
    base_steps: int = 2000
    base_lr: float = 2e-3
    warmup: int = 100
    cpt_steps: int = 800
    """Steps of continued pretraining, on text the base never read."""
    cpt_lr: float = 7e-4
    schedule: str = "cosine"
    weight_decay: float = 0.0
    bf16: bool = False
    """Compute in bf16 under autocast (weights and optimizer stay float32): for GPUs that compute in bf16."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Model initialisation and data order of each run; seed 0 makes the shipped checkpoints."""
    probe_documents: int = 4500
    """Held-out documents the knowledge is measured on (about 20 k value tokens)."""
    probe_seed: int = 7
    sft_steps: int = 400
    """Instruction tuning of toy-solar-base (``tools/make_lineage.py``)."""
    sft_batch_size: int = 16
    sft_lr: float = 1e-4
    dpo_steps: int = 150
    """DPO of each candidate, against the instruction-tuned model as reference."""
    dpo_batch_size: int = 16
    dpo_lr: float = 1e-4
    dpo_beta: float = 0.1
    dpo_sft_weight: float = 1.0
    """Weight of the chosen answers' cross-entropy added to the DPO loss (TRL's ``rpo_alpha``)."""
    average_ratio: float = 0.5
    """Share of DPO v1 in toy-solar-instruct, as SOLAR-10.7B-Instruct averaged its two candidates."""

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size

    @property
    def upscaled_layers(self) -> int:
        return 2 * (self.layers - self.drop)

    def base_data_seed(self, seed: int) -> int:
        """Seed of the documents the base of run ``seed`` is pretrained on."""
        return 1000 + seed

    def new_data_seed(self, seed: int) -> int:
        """Seed of the new documents every arm of run ``seed`` continues on (none the base read)."""
        return 5000 + seed


RECIPE = ToyRecipe()
