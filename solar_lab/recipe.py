"""The toy recipe: every number that makes the shipped lineage, in one frozen dataclass.

``tools/make_lineage.py`` builds the lineage with ``RECIPE``, ``tools/dus_seeds.py`` repeats
its depth up-scaling step over seeds, the notebooks run shorter versions of its stages and
say so, and the tests read it. Change a number here and rerun the tools; nothing else holds a
copy of it.

The lineage, as SOLAR 10.7B's, in miniature:

1. **toy-base**: a ``base_layers``-deep decoder pretrained on ``base_steps`` batches of the
   toy corpus' documents (corpus part ``BASE_PART``), long enough that its held-out loss has
   flattened: it is limited by its size, not by its data.
2. **merged**: depth up-scaling with ``drop`` = m (``2·(n−m)`` layers), not shipped (it is
   one call away).
3. **toy-solar-base**: the merged model after ``cpt_steps`` batches of continued pretraining
   on new documents of the same world (corpus part ``NEW_TEXT_PART``).
4. **toy-solar-sft**: instruction tuning on ``solar_lab.instruct_data``'s instructions.
5. **toy-solar-dpo-v1** (preference set A) and **toy-solar-dpo-v2** (A plus the math
   alignment set), each DPO from toy-solar-sft.
6. **toy-solar-instruct**: the 0.5/0.5 average of v1 and v2.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_PART = 1
"""The corpus part (``corpus.make_corpus(part=...)``) the base pretrains on."""
NEW_TEXT_PART = 2
"""The corpus part continued pretraining reads: documents the base never saw."""
STAGES = (
    "toy-base",
    "toy-solar-base",
    "toy-solar-sft",
    "toy-solar-dpo-v1",
    "toy-solar-dpo-v2",
    "toy-solar-instruct",
)
"""The shipped checkpoints, in the order the lineage makes them (``solar_lab/assets/<stage>``)."""


@dataclass(frozen=True)
class ToyRecipe:
    """Shapes, data budgets, optimiser settings and seeds of every stage of the toy lineage."""

    hidden_size: int = 256
    """Multiple of 256: llama.cpp's K-quants pack rows in blocks of 256."""
    intermediate_size: int = 256
    base_layers: int = 4
    drop: int = 1
    """m: layers dropped from each copy at the seam; 1 of 4 is SOLAR's 8 of 32."""
    block_size: int = 128
    batch_size: int = 16
    seed: int = 0
    warmup: int = 50
    schedule: str = "cosine"
    weight_decay: float = 0.1
    base_steps: int = 3000
    base_lr: float = 2e-3
    cpt_steps: int = 800
    cpt_lr: float = 5e-4
    cpt_warmup: int = 80
    sft_steps: int = 600
    sft_lr: float = 3e-4
    dpo_steps: int = 150
    dpo_lr: float = 3e-4
    dpo_beta: float = 0.1
    dpo_sft_weight: float = 1.0
    average_ratio: float = 0.5

    @property
    def upscaled_layers(self) -> int:
        """2·(n−m): the depth after depth up-scaling."""
        return 2 * (self.base_layers - self.drop)

    @property
    def base_rows(self) -> int:
        """Token blocks the base pretrains on (each read once)."""
        return self.base_steps * self.batch_size

    @property
    def cpt_rows(self) -> int:
        """Blocks of new text for continued pretraining (each read once)."""
        return self.cpt_steps * self.batch_size


RECIPE = ToyRecipe()
"""The recipe the shipped lineage was made with."""
