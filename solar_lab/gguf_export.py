"""Export a Hugging Face Llama/Mistral checkpoint to a GGUF file that llama.cpp runs.

A GGUF file is a header, then key/value metadata (the architecture's numbers, the
tokenizer, the chat template), then tensor descriptions, then the tensors. The export
follows that order step by step with ``gguf.GGUFWriter``:

1. ``write_metadata``: the model's shape from ``config.json`` (``LlamaShape``);
2. ``write_vocabulary``: the SentencePiece pieces, scores and types from ``tokenizer.model``;
3. the tensors, renamed to llama.cpp's names (``gguf_name``), with the rows of the query
   and key projections reordered for llama.cpp's rotary layout (``permute_for_rope``),
   read from the safetensors files one at a time (``solar_lab.checkpoint`` checks the files
   first, and reads each tensor's bytes as float32).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from solar_lab.architecture import DecoderShape
from solar_lab.checkpoint import (
    CONFIG_FILE,
    FLOAT_DTYPES,
    INDEX_FILE,
    StoredTensor,
    check_layers,
    read_array,
    read_config,
    read_json,
    read_tensors,
    temporary_output,
)
from solar_lab.dus import LAYER_NAME
from solar_lab.prompt import SOLAR_CHAT_TEMPLATE

OUTTYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}
BYTE_PIECES = 256

EXPORTED_MODEL_TYPES = ("llama", "mistral")
LAYER_TENSORS = {
    ".input_layernorm.weight": "attn_norm",
    ".self_attn.q_proj.weight": "attn_q",
    ".self_attn.k_proj.weight": "attn_k",
    ".self_attn.v_proj.weight": "attn_v",
    ".self_attn.o_proj.weight": "attn_output",
    ".post_attention_layernorm.weight": "ffn_norm",
    ".mlp.gate_proj.weight": "ffn_gate",
    ".mlp.up_proj.weight": "ffn_up",
    ".mlp.down_proj.weight": "ffn_down",
}
"""Hugging Face name after ``model.layers.N`` -> llama.cpp name inside ``blk.N.``."""
GLOBAL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def gguf_name(hf_name: str) -> str:
    """llama.cpp's name for a Hugging Face Llama tensor, e.g. ``blk.3.attn_q.weight``."""
    if hf_name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[hf_name]
    match = LAYER_NAME.match(hf_name)
    if match is None or match["head"] != "model.layers." or match["tail"] not in LAYER_TENSORS:
        raise ValueError(
            f"tensor {hf_name!r} has no place in a llama GGUF; only bias-free Llama/Mistral "
            "checkpoints (q/k/v/o, gate/up/down, two RMSNorms per layer) can be exported"
        )
    return f"blk.{match['index']}.{LAYER_TENSORS[match['tail']]}.weight"


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


def rope_theta(config: Mapping[str, Any]) -> float:
    """The rotary base: transformers 5 keeps it in ``rope_parameters``, older configs at the top."""
    parameters = config.get("rope_parameters") or {}
    if parameters.get("rope_type", "default") != "default" or config.get("rope_scaling"):
        raise ValueError("only plain rotary embeddings can be exported; this config scales RoPE")
    return float(parameters.get("rope_theta", config.get("rope_theta", 10000.0)))


@dataclass(frozen=True, kw_only=True)
class LlamaShape(DecoderShape):
    """A decoder's shape plus the numbers llama.cpp also needs from ``config.json``."""

    context_length: int
    rope_theta: float
    rms_norm_eps: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LlamaShape:
        """``DecoderShape.from_config`` for Llama and Mistral only, plus llama.cpp's numbers."""
        if config.get("model_type") not in EXPORTED_MODEL_TYPES:
            raise ValueError(
                f"model_type {config.get('model_type')!r} is not {' or '.join(EXPORTED_MODEL_TYPES)}"
            )
        shape = DecoderShape.from_config(config)
        if config.get("head_dim", shape.head_dim) != shape.head_dim:
            raise ValueError("head_dim must equal hidden_size / num_attention_heads for this exporter")
        return cls(
            **asdict(shape),
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
    try:
        processor = spm.SentencePieceProcessor(model_file=str(tokenizer_model))
    except (RuntimeError, OSError):
        raise ValueError(
            f"{tokenizer_model} is not a SentencePiece model; the exporter reads only those"
        ) from None
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


def read_weights(checkpoint: Path, shape: LlamaShape) -> list[tuple[str, StoredTensor]]:
    """The checkpoint's tensors, checked against its shape, in the order they go into the file."""
    tensors = read_tensors(checkpoint)
    check_layers(tensors, shape.num_hidden_layers)
    if unreadable := sorted({tensor.dtype for tensor in tensors.values()} - set(FLOAT_DTYPES)):
        raise ValueError(
            f"{checkpoint} stores tensors as {unreadable[0]}; the exporter reads {', '.join(FLOAT_DTYPES)}"
        )
    return sorted(tensors.items(), key=lambda item: tensor_order(item[0]))


def export_gguf(checkpoint: str | Path, out_path: str | Path, outtype: str = "f32") -> Path:
    """Write ``checkpoint`` (a Hugging Face Llama/Mistral directory) as a GGUF file at ``out_path``.

    ``outtype`` is ``"f32"`` or ``"f16"`` (norms stay F32 either way, as in llama.cpp's
    converter). Every input is checked before anything is written; tensors are read one
    at a time, so memory holds one tensor, not the model.
    """
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {sorted(OUTTYPES)}, not {outtype!r}")
    _, shape = read_config(checkpoint, LlamaShape.from_config)
    vocabulary = read_vocabulary(checkpoint / "tokenizer.model", shape.vocab_size)
    tokenizer_config = checkpoint / "tokenizer_config.json"
    settings = read_json(tokenizer_config) if tokenizer_config.is_file() else {}
    add_bos = settings.get("add_bos_token", True)
    sources = read_weights(checkpoint, shape)
    read = [checkpoint / name for name in (CONFIG_FILE, INDEX_FILE, "tokenizer.model", tokenizer_config.name)]
    temporary = temporary_output(out_path, read + [tensor.file for _, tensor in sources])
    writer = gguf.GGUFWriter(temporary, "llama")
    write_metadata(writer, shape, checkpoint.name, outtype)
    write_vocabulary(writer, vocabulary, add_bos)
    for name, tensor in sources:
        dtype = np.dtype(np.float16 if outtype == "f16" and len(tensor.shape) == 2 else np.float32)
        nbytes = int(np.prod(tensor.shape)) * dtype.itemsize
        writer.add_tensor_info(gguf_name(name), tensor.shape, dtype, nbytes)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for name, tensor in sources:
            writer.write_tensor_data(converted(name, read_array(tensor), shape, outtype))
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(temporary, out_path)
    return out_path
