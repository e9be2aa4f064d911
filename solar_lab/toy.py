"""The toy world and its models: a tiny Mistral-shaped Llama decoder shipped with the package.

Same recipe as Mistral 7B and SOLAR 10.7B (RMSNorm, rotary positions, SwiGLU MLP,
grouped-query attention with 4 query heads per key/value head, untied LM head), only small:
widths of 256, so it trains on a laptop CPU, and multiples of 256 because llama.cpp's K-quants
pack rows in blocks of 256. Its sizes, steps and seeds are those of ``solar_lab.recipe.RECIPE``.

Two checkpoints ship, both made by ``tools/make_toy_models.py``:

- ``toy-base``: ``RECIPE.layers`` layers pretrained on the world's corpus (seed 0);
- ``toy-solar-base``: the base up-scaled with m = ``RECIPE.drop`` and continually pretrained
  on new documents of the same world, SOLAR 10.7B's recipe in miniature.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Iterator

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase

from solar_lab.corpus import Corpus, documents, make_corpus
from solar_lab.knowledge import Probe, make_probe
from solar_lab.recipe import RECIPE, ToyRecipe
from solar_lab.tokenizer import BOS, EOS, load_tokenizer
from solar_lab.training import document_ids
from solar_lab.world import World

STAGES = ("toy-base", "toy-solar-base", "toy-solar-instruct")
"""The shipped checkpoints: tools/make_toy_models.py makes the first two, tools/make_lineage.py the third."""
TOKENIZER_CORPUS_CHARS = 2_000_000
"""Characters of training documents the tokenizer is trained on."""


@cache
def world(recipe: ToyRecipe = RECIPE) -> World:
    """The toy world: ``recipe.people`` people and their facts."""
    return World.make(recipe.people, recipe.world_seed)


def corpus(train_chars: int = TOKENIZER_CORPUS_CHARS, recipe: ToyRecipe = RECIPE) -> Corpus:
    """A fixed sample of the world's documents: the tokenizer's training text, and held-out lines."""
    return make_corpus(world(recipe), seed=recipe.world_seed, train_chars=train_chars)


def toy_config(num_hidden_layers: int | None = None, recipe: ToyRecipe = RECIPE) -> LlamaConfig:
    """The toy model's config: Mistral's layout at the recipe's widths, ``recipe.layers`` layers unless given."""
    return LlamaConfig(
        vocab_size=recipe.vocab_size,
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=num_hidden_layers or recipe.layers,
        num_attention_heads=recipe.hidden_size // 64,
        num_key_value_heads=recipe.hidden_size // 256,
        hidden_act="silu",
        max_position_embeddings=2 * recipe.block_size,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=None,
    )


def checkpoint_path(stage: str = "toy-base") -> Path:
    """The directory of a shipped checkpoint (config, weights, tokenizer files)."""
    if stage not in STAGES:
        raise ValueError(f"no shipped stage {stage!r}; choose one of {', '.join(STAGES)}")
    return Path(str(resources.files("solar_lab") / "assets" / stage))


def load(stage: str = "toy-base", dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A shipped checkpoint (in ``dtype``, eval mode) and its tokenizer."""
    path = checkpoint_path(stage)
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"no shipped {stage} at {path}; regenerate it with `python tools/make_toy_models.py`")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.eval(), load_tokenizer(path)


def training_blocks(tokenizer: PreTrainedTokenizerBase, seed: int, recipe: ToyRecipe = RECIPE) -> Iterator[torch.Tensor]:
    """Endless ``(batch_size, block_size)`` batches of training documents drawn from ``seed``.

    Each document is encoded as ``<s> ... </s>`` and the stream is cut into blocks, as
    pretraining packs text. Two seeds give two streams of the same world's documents.
    """
    batch_size, block_size = recipe.batch_size, recipe.block_size
    lines = documents(world(recipe), seed)
    stream: list[int] = []
    while True:
        stream += document_ids(tokenizer, (text for text, _ in islice(lines, 256)))
        size = batch_size * block_size
        while len(stream) >= size:
            yield torch.tensor(stream[:size]).view(batch_size, block_size)
            del stream[:size]


def probe(tokenizer: PreTrainedTokenizerBase, recipe: ToyRecipe = RECIPE) -> Probe:
    """The held-out documents every run is measured on (``knowledge.measure``)."""
    return make_probe(world(recipe), tokenizer, recipe.probe_documents, recipe.probe_seed)
