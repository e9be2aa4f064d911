"""A stand-in model that claims to live on another device, to test device handling without a GPU."""

from __future__ import annotations

from types import SimpleNamespace

import torch

ELSEWHERE = torch.device("meta")


class ElsewhereModel(torch.nn.Module):
    """Reports ``device`` as the meta device and records the device of every tensor it is fed.

    Its outputs come from one CPU parameter and the inputs' shapes alone (meta tensors have
    shapes but no values), so a training or generation loop runs to its end wherever the
    inputs are; a test then asserts that each one arrived on ``model.device``.
    """

    def __init__(self, vocab_size: int = 16, eos_token_id: int = 2):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.linspace(0.0, 1.0, vocab_size))
        self.eos_token_id = eos_token_id
        self.seen: list[torch.device] = []

    @property
    def device(self) -> torch.device:
        return ELSEWHERE

    def forward(self, input_ids, attention_mask=None, labels=None):
        self.seen += [tensor.device for tensor in (input_ids, attention_mask, labels) if tensor is not None]
        logits = self.bias.expand(*input_ids.shape, -1)
        return SimpleNamespace(logits=logits, loss=logits.logsumexp(-1).mean() - self.bias.mean())

    def generate(self, input_ids, attention_mask, max_new_tokens, **kwargs):
        self.seen += [input_ids.device, attention_mask.device]
        return torch.full((input_ids.shape[0], input_ids.shape[1] + max_new_tokens), self.eos_token_id)
