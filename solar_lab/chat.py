"""Chat with a GGUF model through llama-cpp-python, the way the article runs SOLAR-Instruct.

SOLAR-10.7B-Instruct was tuned on one prompt format (``solar_prompt``); llama-cpp-python
has no built-in chat format for it, so the prompt is written here, byte for byte.
Generation is a loop: llama.cpp picks the next token, the token becomes text, the text
is shown at once (streaming), and the loop stops at ``</s>`` or after ``max_tokens``.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import llama_cpp

from solar_lab.prompt import solar_prompt

ARTICLE_PROMPTS = (
    "Who are you?",
    "How many eggs can a monkey lay in its lifetime?",
    "How many smartphones can a human eat?",
    "Look at this series: 80, 10, 70, 15, 60, ... What number should come next?",
    "John runs faster than Ken. Magnus runs faster than John. Does Ken run faster than Magnus?",
)
"""The five prompts the article asks SOLAR-10.7B-Instruct."""
STOP = "</s>"


def stream_tokens(
    llm: llama_cpp.Llama, prompt: str, max_tokens: int = 512, temperature: float = 0.0
) -> Iterator[tuple[int, str]]:
    """Yield ``(token_id, text)`` for each generated token until ``</s>``, ``max_tokens`` or a full context.

    ``prompt`` is sent as written (the model's tokenizer adds ``<s>``); temperature 0 is
    greedy decoding, so a run repeats exactly. A character split over several tokens is
    shown once its last byte arrives. The model normally ends with its ``</s>`` token; if
    it spells ``</s>`` out of smaller pieces instead, the loop stops on the piece that
    completes it, after the earlier pieces (say ``</``) were already shown.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
    room = llm.n_ctx() - len(prompt_tokens)
    if room < 1:
        raise ValueError(
            f"the prompt has {len(prompt_tokens)} tokens, more than the context of {llm.n_ctx()}; "
            "shorten it or load the model with a larger n_ctx"
        )
    max_tokens = min(max_tokens, room)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = ""
    for count, token in enumerate(llm.generate(prompt_tokens, temp=temperature, top_k=40, top_p=0.95)):
        if token == llm.token_eos() or count == max_tokens:
            return
        piece = decoder.decode(llm.detokenize([token]))
        text += piece
        if text.endswith(STOP):
            return
        yield token, piece


@dataclass(frozen=True)
class ChatResult:
    """A finished reply and how fast it came."""

    text: str
    prompt_tokens: int
    tokens: int
    seconds_to_first_token: float
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        """Generation speed after the first token (prompt reading excluded)."""
        generating = self.seconds - self.seconds_to_first_token
        return (self.tokens - 1) / generating if self.tokens > 1 and generating > 0 else 0.0


def chat(
    llm: llama_cpp.Llama,
    user: str,
    system: str | None = None,
    max_tokens: int = 512,
    on_text: Callable[[str], None] | None = None,
) -> ChatResult:
    """Answer ``user`` in SOLAR's format, passing each piece of text to ``on_text`` as it comes."""
    prompt = solar_prompt(user, system)
    start = time.perf_counter()
    first = None
    pieces = []
    for _, piece in stream_tokens(llm, prompt, max_tokens):
        first = first or time.perf_counter() - start
        pieces.append(piece)
        if on_text is not None:
            on_text(piece)
    return ChatResult(
        text="".join(pieces),
        prompt_tokens=len(llm.tokenize(prompt.encode("utf-8"), add_bos=True)),
        tokens=len(pieces),
        seconds_to_first_token=first or 0.0,
        seconds=time.perf_counter() - start,
    )
