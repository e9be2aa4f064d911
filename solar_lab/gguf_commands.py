"""The GGUF commands: ``export-gguf``, ``quantize`` and ``chat``.

They need the ``[gguf]`` extra (gguf-py and llama-cpp-python), so each imports its module
only when it runs; ``solar-lab --help`` and ``solar-lab upscale`` work without the extra.
"""

from __future__ import annotations

import argparse
import sys

OUTTYPES = ("f32", "f16")
"""``gguf_export.OUTTYPES``, named here so that building the parser needs no gguf."""
QUANT_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
"""``quantize.QUANT_TYPES``, named here so that building the parser needs no llama_cpp."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def run_export(args: argparse.Namespace) -> int:
    from solar_lab.gguf_export import export_gguf

    path = export_gguf(args.checkpoint, args.out, args.outtype)
    print(f"wrote {path} ({args.outtype.upper()})")
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from solar_lab.quantize import fallbacks, quantize, tensor_types

    path = quantize(args.input, args.out, args.type)
    tensors = tensor_types(path)
    fell_back = fallbacks(tensors, args.type)
    print(f"wrote {path} ({args.type}, {path.stat().st_size:,} bytes)")
    for name, kind in fell_back.items():
        print(f"  {name}: rows not a multiple of 256, stored as {kind}")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    from solar_lab.chat import chat
    from solar_lab.gguf_file import load_model

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    with load_model(args.model, n_ctx=args.n_ctx, n_gpu_layers=args.n_gpu_layers) as llm:
        result = chat(llm, args.prompt, system=args.system, max_tokens=args.max_tokens, on_text=show)
    print()
    print(f"[{result.tokens} tokens, {result.tokens_per_second:.1f} tokens/s]", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export-gguf", help="write a Llama/Mistral checkpoint directory as GGUF (needs solar-lab[gguf])"
    )
    export.add_argument("checkpoint", help="Hugging Face checkpoint directory with tokenizer.model")
    export.add_argument("out", help="the GGUF file to write")
    export.add_argument("--outtype", choices=sorted(OUTTYPES), default="f32")
    export.set_defaults(func=run_export)

    quant = subparsers.add_parser(
        "quantize", help="quantize an F32/F16 GGUF with llama.cpp (needs solar-lab[gguf])"
    )
    quant.add_argument("input", help="F32 or F16 GGUF file")
    quant.add_argument("out", help="the quantized GGUF file to write (not the input)")
    quant.add_argument("--type", choices=QUANT_TYPES, default="Q4_K_M")
    quant.set_defaults(func=run_quantize)

    talk = subparsers.add_parser(
        "chat", help="answer one prompt in SOLAR's format, streaming the reply (needs solar-lab[gguf])"
    )
    talk.add_argument("model", help="GGUF model file")
    talk.add_argument("prompt", help="the user's message")
    talk.add_argument("--system", default=None, help="optional system message")
    talk.add_argument(
        "--max-tokens", type=positive_int, default=256, help="most tokens to generate (at least 1)"
    )
    talk.add_argument("--n-ctx", type=positive_int, default=512, help="context length in tokens")
    talk.add_argument(
        "--n-gpu-layers", type=int, default=0, help="layers to offload (-1: all; needs a CUDA build)"
    )
    talk.set_defaults(func=run_chat)
