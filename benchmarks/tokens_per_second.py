"""Tokens per second: llama.cpp (F32, Q8_0, Q4_K_M) against transformers' generate(), same model and prompt.

    python benchmarks/tokens_per_second.py                      # the shipped toy base
    python benchmarks/tokens_per_second.py --checkpoint DIR     # any Llama checkpoint with tokenizer.model

Each engine greedily generates exactly ``--tokens`` tokens after SOLAR's prompt for the
article's first question (end-of-text is ignored so all runs do the same work), with
the same number of threads; the best of ``--repeats`` runs is kept, since a shared
machine makes single timings noisy. Prompt reading is included in every timing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from solar_lab.chat import ARTICLE_PROMPTS
from solar_lab.gguf_export import export_gguf
from solar_lab.gguf_file import load_model
from solar_lab.prompt import solar_prompt
from solar_lab.quantize import quantize


def transformers_seconds(checkpoint: Path, ids: list[int], tokens: int) -> float:
    """Seconds for transformers to generate ``tokens`` tokens greedily (KV cache on)."""
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    prompt = torch.tensor([ids])
    with torch.no_grad():
        start = time.perf_counter()
        output = model.generate(prompt, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        seconds = time.perf_counter() - start
    assert output.shape[1] == len(ids) + tokens
    return seconds


def llama_cpp_seconds(path: Path, ids: list[int], tokens: int, threads: int) -> float:
    """Seconds for llama.cpp to generate ``tokens`` tokens greedily from the same prompt ids."""
    with load_model(path, n_threads=threads) as llm:
        start = time.perf_counter()
        for count, _ in enumerate(llm.generate(ids, temp=0.0), start=1):
            if count == tokens:
                break
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped toy base")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.checkpoint is None:
        from solar_lab.toy import checkpoint_path

        args.checkpoint = checkpoint_path()
    torch.set_num_threads(args.threads)
    ids = AutoTokenizer.from_pretrained(args.checkpoint)(solar_prompt(ARTICLE_PROMPTS[0]))["input_ids"]

    with tempfile.TemporaryDirectory() as scratch:
        f32 = export_gguf(args.checkpoint, Path(scratch) / "model.F32.gguf")
        files = {"llama.cpp F32": f32}
        for quant in ("Q8_0", "Q4_K_M"):
            files[f"llama.cpp {quant}"] = quantize(f32, Path(scratch) / f"model.{quant}.gguf", quant)
        seconds = {"transformers F32": min(transformers_seconds(args.checkpoint, ids, args.tokens)
                                           for _ in range(args.repeats))}
        for name, path in files.items():
            seconds[name] = min(llama_cpp_seconds(path, ids, args.tokens, args.threads) for _ in range(args.repeats))

    baseline = args.tokens / seconds["transformers F32"]
    print(f"{args.checkpoint.name}: {len(ids)} prompt tokens + {args.tokens} generated, "
          f"{args.threads} thread(s), best of {args.repeats}")
    print(f"{'engine':<20}{'tokens/s':>10}{'vs transformers':>18}")
    for name, value in seconds.items():
        rate = args.tokens / value
        print(f"{name:<20}{rate:>10.1f}{rate / baseline:>17.1f}x")


if __name__ == "__main__":
    main()
