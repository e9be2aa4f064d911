"""Text for continued pretraining: every source streams, packs as token_blocks does, and resumes exactly."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoTokenizer

from _cpt_fixtures import make_tokenizer, write_lines
from _gguf_fixtures import sentences
from solar_lab.cpt_data import BlockStream
from solar_lab.training import token_blocks

SEQ_LEN = 16
BATCH = 3
LINES = sentences(80, seed=2)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return AutoTokenizer.from_pretrained(make_tokenizer(tmp_path_factory.mktemp("tokenizer")))


def write_source(kind: str, directory, lines: list[str]) -> str:
    """The same documents as a .txt (with an empty line, which is skipped), .jsonl, .parquet or a dataset folder."""
    if kind == "txt":
        return str(write_lines(directory / "corpus.txt", [lines[0], "", *lines[1:]]))
    if kind == "parquet":
        pq.write_table(pa.table({"text": lines}), directory / "corpus.parquet", row_group_size=7)
        return str(directory / "corpus.parquet")
    target = directory / "corpus.jsonl" if kind == "jsonl" else directory / "dataset" / "train.jsonl"
    target.parent.mkdir(exist_ok=True)
    target.write_text("".join(json.dumps({"id": i, "text": line}) + "\n" for i, line in enumerate(lines)))
    return str(target) if kind == "jsonl" else str(target.parent)


@pytest.mark.parametrize("kind", ["txt", "jsonl", "parquet", "dataset folder"])
def test_every_source_packs_like_token_blocks_and_resumes_exactly(kind, tokenizer, tmp_path):
    source = write_source(kind, tmp_path, LINES)
    stream = BlockStream(source, tokenizer, SEQ_LEN, BATCH)
    first = [stream.next_batch() for _ in range(4)]
    position = json.loads(json.dumps(stream.position()))
    rest = [stream.next_batch() for _ in range(3)]
    stream.close()
    expected = token_blocks(tokenizer, LINES, SEQ_LEN)[: 7 * BATCH]
    assert torch.equal(torch.cat(first + rest), expected)

    resumed = BlockStream(source, tokenizer, SEQ_LEN, BATCH, position=position)
    assert all(torch.equal(resumed.next_batch(), batch) for batch in rest)
    resumed.close()


def document_tokens(tokenizer, lines: list[str]) -> list[int]:
    """The documents as one token stream, ``<s> ... </s>`` around each."""
    rows = tokenizer(lines, add_special_tokens=False)["input_ids"]
    return sum(([tokenizer.bos_token_id, *row, tokenizer.eos_token_id] for row in rows), [])


def test_the_stream_starts_a_new_epoch_when_the_data_ends(tokenizer, tmp_path):
    lines = LINES[:2]
    one_epoch = document_tokens(tokenizer, lines)
    wanted = 5 * BATCH * SEQ_LEN
    assert 2 * len(one_epoch) < wanted < 3 * len(one_epoch)
    stream = BlockStream(write_source("txt", tmp_path, lines), tokenizer, SEQ_LEN, BATCH)
    batches = torch.cat([stream.next_batch() for _ in range(5)])
    assert stream.position()["epoch"] == 2
    assert batches.flatten().tolist() == (one_epoch * 3)[:wanted]
    stream.close()


def test_too_little_text_for_one_step_says_how_many_blocks_it_makes(tokenizer, tmp_path):
    blocks = len(document_tokens(tokenizer, LINES[:1])) // SEQ_LEN
    stream = BlockStream(write_source("txt", tmp_path, LINES[:1]), tokenizer, SEQ_LEN, blocks + 1)
    with pytest.raises(ValueError, match=rf"makes {blocks} block\(s\) of 16 tokens, fewer than the {blocks + 1} one step"):
        stream.next_batch()
    stream.close()


@pytest.mark.parametrize(
    ("lines", "field", "message"),
    [
        (["", "  "], "text", "holds no text"),
        (LINES, "content", r"rows have no 'content' field \(they have text\)"),
    ],
)
def test_data_errors_name_the_problem(lines, field, message, tokenizer, tmp_path):
    stream = BlockStream(write_source("txt", tmp_path, lines), tokenizer, SEQ_LEN, BATCH, text_field=field)
    with pytest.raises(ValueError, match=message):
        stream.next_batch()
    stream.close()


def test_a_missing_file_is_named(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="corpus.jsonl does not exist"):
        BlockStream(str(tmp_path / "corpus.jsonl"), tokenizer, SEQ_LEN, BATCH)
