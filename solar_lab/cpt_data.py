"""Text for continued pretraining: streamed, tokenized and packed into fixed-length blocks.

Every source is read as a 🤗 datasets stream (``streaming=True``), so a corpus larger than
memory works and nothing is cached on disk: a local ``.txt`` (one document per line),
``.jsonl``/``.json`` or ``.parquet`` file through datasets' own readers, anything else
(a dataset on the Hub, or a local folder of such files) by name. Each document becomes
``<s> ... </s>``, the documents are concatenated, and the stream is cut into blocks of
``seq_len`` tokens, as ``training.token_blocks`` does in memory.

A training step takes a *global batch*: the next blocks of the stream, and process r of W
trains on blocks r, r + W, r + 2W, ... of it. Every process reads and tokenizes the whole
stream to find its own blocks: tokenizing is cheap next to training a large model, and in
exchange every process knows the same position in the stream after each step, and a run on
W processes trains on exactly the batches a run on one process would.

The position (``BlockStream.position``) is plain JSON: datasets' own resumable state of the
stream, the tokens already read but not yet in a block, and the epoch. A resumed run starts
exactly where the saved one stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import PreTrainedTokenizerBase

if TYPE_CHECKING:  # datasets (the [train] extra) loads only when a stream opens
    import datasets

FILE_READERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
"""Suffix of a local file -> the datasets reader that streams it."""


def open_stream(source: str, *, split: str, config_name: str | None) -> "datasets.IterableDataset":
    """A 🤗 datasets stream over ``source``: a local file, or a local folder or Hub dataset by name."""
    import datasets

    path = Path(source)
    reader = FILE_READERS.get(path.suffix.lower())
    if reader is not None:
        if not path.is_file():
            raise ValueError(f"{source} does not exist; pass a .txt, .jsonl or .parquet file, a folder or a dataset")
        return datasets.load_dataset(reader, data_files=str(path), split="train", streaming=True)
    try:
        return datasets.load_dataset(source, config_name, split=split, streaming=True)
    except (FileNotFoundError, ValueError, ConnectionError, RuntimeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot stream {source!r} with 🤗 datasets ({first})") from None


class BlockStream:
    """Global batches of ``batch_blocks`` blocks of ``seq_len`` tokens from a text stream, resumable."""

    def __init__(
        self,
        source: str,
        tokenizer: PreTrainedTokenizerBase,
        seq_len: int,
        batch_blocks: int,
        *,
        text_field: str = "text",
        split: str = "train",
        config_name: str | None = None,
        position: dict[str, Any] | None = None,
    ) -> None:
        if seq_len < 2 or batch_blocks < 1:
            raise ValueError(f"need seq_len >= 2 and batch_blocks >= 1, got {seq_len} and {batch_blocks}")
        self.source, self.tokenizer, self.seq_len, self.batch_blocks = source, tokenizer, seq_len, batch_blocks
        self.text_field, self.split, self.config_name = text_field, split, config_name
        position = position or {"epoch": 0, "stream": None, "carry": []}
        self.epoch, self.carry = position["epoch"], list(position["carry"])
        self.dataset = open_stream(source, split=split, config_name=config_name)
        if position["stream"] is not None:
            self.dataset.load_state_dict(position["stream"])
        self.rows = iter(self.dataset)
        self.documents = self._documents(whole_epoch=position["stream"] is None)

    def position(self) -> dict[str, Any]:
        """Where the stream stands between two batches, as JSON-ready values."""
        return {"epoch": self.epoch, "stream": self.dataset.state_dict(), "carry": list(self.carry)}

    def close(self) -> None:
        """Stop reading (datasets' readers keep their files open until their generator is closed)."""
        self.rows.close()

    def _text(self, row: dict[str, Any]) -> str:
        field = self.text_field
        if field not in row:
            raise ValueError(
                f"{self.source}: rows have no {field!r} field (they have {', '.join(row)}); pass --text-field"
            )
        if not isinstance(row[field], str):
            raise ValueError(f"{self.source}: field {field!r} holds {type(row[field]).__name__}, not text")
        return row[field]

    def _documents(self, whole_epoch: bool) -> Iterator[list[int]]:
        """Token ids of each non-empty document with ``<s>`` and ``</s>`` around it, epoch after epoch.

        An epoch read from its start must make at least one global batch of blocks.
        """
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        while True:
            tokens = 0
            for row in self.rows:
                text = self._text(row)
                if text.strip():
                    ids = [bos, *self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"], eos]
                    tokens += len(ids)
                    yield ids
            if whole_epoch and tokens == 0:
                raise ValueError(f"{self.source} holds no text (no non-empty {self.text_field!r})")
            if whole_epoch and tokens // self.seq_len < self.batch_blocks:
                raise ValueError(
                    f"{self.source} makes {tokens // self.seq_len} block(s) of {self.seq_len} tokens, fewer than the "
                    f"{self.batch_blocks} one step takes (processes × batch size × accumulation steps)"
                )
            self.close()
            self.epoch, whole_epoch = self.epoch + 1, True
            self.dataset = open_stream(self.source, split=self.split, config_name=self.config_name)
            self.rows = iter(self.dataset)

    def next_batch(self) -> torch.Tensor:
        """The next global batch, a ``(batch_blocks, seq_len)`` tensor."""
        need = self.batch_blocks * self.seq_len
        while len(self.carry) < need:
            self.carry += next(self.documents)
        batch, self.carry = self.carry[:need], self.carry[need:]
        return torch.tensor(batch).view(self.batch_blocks, self.seq_len)
