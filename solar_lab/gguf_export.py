"""Export a Hugging Face Llama/Mistral checkpoint to a GGUF file that llama.cpp runs.

A GGUF file is a header, then key/value metadata (the architecture's numbers, the
tokenizer, the chat template), then tensor descriptions, then the tensors. The export
follows that order step by step with ``gguf.GGUFWriter``:

1. ``write_metadata``: the model's shape from ``config.json``;
2. ``write_vocabulary``: the SentencePiece pieces, scores and types from ``tokenizer.model``;
3. the tensors, renamed to llama.cpp's names (``gguf_name``), with the rows of the query
   and key projections reordered for llama.cpp's rotary layout (``permute_for_rope``),
   streamed from the safetensors files one at a time.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import gguf
import numpy as np
import sentencepiece as spm
from safetensors import safe_open
from sentencepiece import sentencepiece_model_pb2

from solar_lab.prompt import SOLAR_CHAT_TEMPLATE

OUTTYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}
BYTE_PIECES = 256

LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
"""Hugging Face name inside ``model.layers.N.`` -> llama.cpp name inside ``blk.N.``."""
GLOBAL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER_NAME = re.compile(r"model\.layers\.(\d+)\.(.+)\.weight")


def gguf_name(hf_name: str) -> str:
    """llama.cpp's name for a Hugging Face Llama tensor, e.g. ``blk.3.attn_q.weight``."""
    if hf_name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[hf_name]
    match = LAYER_NAME.fullmatch(hf_name)
    if match is None or match[2] not in LAYER_TENSORS:
        raise ValueError(
            f"tensor {hf_name!r} has no place in a llama GGUF; only bias-free Llama/Mistral "
            "checkpoints (q/k/v/o, gate/up/down, two RMSNorms per layer) can be exported"
        )
    return f"blk.{match[1]}.{LAYER_TENSORS[match[2]]}.weight"


def permute_for_rope(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder a q or k projection's rows from Hugging Face's rotary layout to llama.cpp's.

    Hugging Face rotates each head's first half of dimensions against its second half;
    llama.cpp rotates neighbouring pairs (0,1), (2,3), ... So within each head, row i of
    the first half and row i of the second half must become rows 2i and 2i+1.
    """
    head_dim = weights.shape[0] // n_head
    return (
        weights.reshape(n_head, 2, head_dim // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


@dataclass(frozen=True)
class LlamaShape:
    """The numbers llama.cpp needs from a checkpoint's ``config.json``."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    context_length: int
    rope_theta: float
    rms_norm_eps: float

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


def rope_theta(config: dict[str, Any]) -> float:
    """The rotary base: transformers 5 keeps it in ``rope_parameters``, older configs at the top."""
    parameters = config.get("rope_parameters") or {}
    if parameters.get("rope_type", "default") != "default" or config.get("rope_scaling"):
        raise ValueError("only plain rotary embeddings can be exported; this config scales RoPE")
    return float(parameters.get("rope_theta", config.get("rope_theta", 10000.0)))


def read_shape(checkpoint: Path) -> LlamaShape:
    """Read and check ``config.json`` of a Llama/Mistral checkpoint directory."""
    path = checkpoint / "config.json"
    if not path.is_file():
        raise ValueError(f"{checkpoint} has no config.json; pass a Hugging Face checkpoint directory")
    config = json.loads(path.read_text())
    if config.get("model_type") not in ("llama", "mistral"):
        raise ValueError(f"model_type {config.get('model_type')!r} is not llama or mistral")
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    if config.get("head_dim", hidden // heads) != hidden // heads:
        raise ValueError("head_dim must equal hidden_size / num_attention_heads for this exporter")
    return LlamaShape(
        vocab_size=config["vocab_size"],
        hidden_size=hidden,
        intermediate_size=config["intermediate_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=config.get("num_key_value_heads") or heads,
        context_length=config.get("max_position_embeddings", 4096),
        rope_theta=rope_theta(config),
        rms_norm_eps=config.get("rms_norm_eps", 1e-5),
    )


@dataclass(frozen=True)
class Vocabulary:
    """A SentencePiece vocabulary as llama.cpp reads it."""

    tokens: list[str]
    scores: list[float]
    types: list[int]
    bos_id: int
    eos_id: int
    unk_id: int
    add_space_prefix: bool


def token_type(processor: spm.SentencePieceProcessor, token_id: int) -> int:
    """llama.cpp's type for a piece: normal, unknown, control (``<s>``), unused or byte."""
    if processor.is_unknown(token_id):
        return gguf.TokenType.UNKNOWN
    if processor.is_control(token_id):
        return gguf.TokenType.CONTROL
    if processor.is_unused(token_id):
        return gguf.TokenType.UNUSED
    if processor.is_byte(token_id):
        return gguf.TokenType.BYTE
    return gguf.TokenType.NORMAL


def read_vocabulary(tokenizer_model: Path, vocab_size: int) -> Vocabulary:
    """Pieces, scores and types of ``tokenizer.model``, padded to the model's ``vocab_size``."""
    if not tokenizer_model.is_file():
        raise ValueError(f"{tokenizer_model} does not exist; the exporter needs a SentencePiece tokenizer.model")
    processor = spm.SentencePieceProcessor(model_file=str(tokenizer_model))
    pieces = processor.get_piece_size()
    byte_pieces = sum(processor.is_byte(i) for i in range(pieces))
    if byte_pieces != BYTE_PIECES:
        raise ValueError(
            f"{tokenizer_model} has {byte_pieces} byte pieces, not {BYTE_PIECES}: train it with "
            "byte_fallback=True, or llama.cpp aborts on the first character it does not know"
        )
    if pieces > vocab_size:
        raise ValueError(f"tokenizer has {pieces} pieces but the model's vocab_size is {vocab_size}")
    proto = sentencepiece_model_pb2.ModelProto.FromString(tokenizer_model.read_bytes())
    padding = range(pieces, vocab_size)
    return Vocabulary(
        tokens=[processor.id_to_piece(i) for i in range(pieces)] + [f"[PAD{i}]" for i in padding],
        scores=[processor.get_score(i) for i in range(pieces)] + [-1000.0] * len(padding),
        types=[token_type(processor, i) for i in range(pieces)] + [gguf.TokenType.UNUSED] * len(padding),
        bos_id=processor.bos_id(),
        eos_id=processor.eos_id(),
        unk_id=processor.unk_id(),
        add_space_prefix=proto.normalizer_spec.add_dummy_prefix,
    )


def write_metadata(writer: gguf.GGUFWriter, shape: LlamaShape, name: str, outtype: str) -> None:
    """The ``llama.*`` keys: what llama.cpp needs to build the network."""
    writer.add_name(name)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.hidden_size)
    writer.add_block_count(shape.num_hidden_layers)
    writer.add_feed_forward_length(shape.intermediate_size)
    writer.add_head_count(shape.num_attention_heads)
    writer.add_head_count_kv(shape.num_key_value_heads)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_norm_eps)
    writer.add_vocab_size(shape.vocab_size)
    writer.add_file_type(OUTTYPES[outtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def write_vocabulary(writer: gguf.GGUFWriter, vocabulary: Vocabulary, add_bos: bool) -> None:
    """The ``tokenizer.ggml.*`` keys and the chat template."""
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocabulary.tokens)
    writer.add_token_scores(vocabulary.scores)
    writer.add_token_types(vocabulary.types)
    writer.add_bos_token_id(vocabulary.bos_id)
    writer.add_eos_token_id(vocabulary.eos_id)
    writer.add_unk_token_id(vocabulary.unk_id)
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(vocabulary.add_space_prefix)
    writer.add_chat_template(SOLAR_CHAT_TEMPLATE)


def safetensors_files(checkpoint: Path) -> list[Path]:
    """The checkpoint's weight files (one file, or the shards its index names)."""
    index = checkpoint / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [checkpoint / shard for shard in shards]
    single = checkpoint / "model.safetensors"
    if not single.is_file():
        raise ValueError(f"{checkpoint} holds no model.safetensors (pickled .bin weights are not read)")
    return [single]


def tensor_order(name: str) -> tuple[int, int, str]:
    """Embedding first, then blocks in order, then the final norm and LM head."""
    gguf_key = gguf_name(name)
    if gguf_key.startswith("blk."):
        return (1, int(gguf_key.split(".")[1]), gguf_key)
    return (0 if gguf_key.startswith("token_embd") else 2, 0, gguf_key)


def converted(hf_name: str, tensor: np.ndarray, shape: LlamaShape, outtype: str) -> np.ndarray:
    """A tensor as it goes into the file: q/k permuted; matrices in F16 for an f16 export."""
    if hf_name.endswith("q_proj.weight"):
        tensor = permute_for_rope(tensor, shape.num_attention_heads)
    elif hf_name.endswith("k_proj.weight"):
        tensor = permute_for_rope(tensor, shape.num_key_value_heads)
    if outtype == "f16" and tensor.ndim == 2:
        return tensor.astype(np.float16)
    return np.ascontiguousarray(tensor, dtype=np.float32)


def iter_tensors(checkpoint: Path, stack: ExitStack) -> Iterator[tuple[str, Any]]:
    """(name, open safetensors file) pairs in file order, without loading any tensor."""
    for path in safetensors_files(checkpoint):
        handle = stack.enter_context(safe_open(str(path), framework="pt"))
        for name in handle.keys():
            yield name, handle


def export_gguf(checkpoint: str | Path, out_path: str | Path, outtype: str = "f32") -> Path:
    """Write ``checkpoint`` (a Hugging Face Llama/Mistral directory) as a GGUF file at ``out_path``.

    ``outtype`` is ``"f32"`` or ``"f16"`` (norms stay F32 either way, as in llama.cpp's
    converter). Tensors are read one at a time, so memory holds one tensor, not the model.
    """
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {sorted(OUTTYPES)}, not {outtype!r}")
    shape = read_shape(checkpoint)
    vocabulary = read_vocabulary(checkpoint / "tokenizer.model", shape.vocab_size)
    tokenizer_config = checkpoint / "tokenizer_config.json"
    settings = json.loads(tokenizer_config.read_text()) if tokenizer_config.is_file() else {}
    add_bos = settings.get("add_bos_token", True)
    temporary = out_path.with_name(out_path.name + ".tmp")
    with ExitStack() as stack:
        sources = sorted(iter_tensors(checkpoint, stack), key=lambda item: tensor_order(item[0]))
        writer = gguf.GGUFWriter(temporary, "llama")
        write_metadata(writer, shape, checkpoint.name, outtype)
        write_vocabulary(writer, vocabulary, add_bos)
        for name, handle in sources:
            dims = handle.get_slice(name).get_shape()
            dtype = np.dtype(np.float16 if outtype == "f16" and len(dims) == 2 else np.float32)
            writer.add_tensor_info(gguf_name(name), dims, dtype, int(np.prod(dims)) * dtype.itemsize)
        try:
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for name, handle in sources:
                tensor = handle.get_tensor(name).float().numpy()
                writer.write_tensor_data(converted(name, tensor, shape, outtype))
        except BaseException:
            writer.close()
            temporary.unlink(missing_ok=True)
            raise
        writer.close()
    os.replace(temporary, out_path)
    return out_path
