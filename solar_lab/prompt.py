"""SOLAR-10.7B-Instruct's prompt format, in one place for training, export and chat.

The model card's single-turn format, newlines included (the article's printed prompt lost them)::

    ### System:
    {system}

    ### User:
    {prompt}

    ### Assistant:
"""

from __future__ import annotations

SOLAR_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '### System:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '### User:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Assistant:\\n' + message['content'] + '\\n\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\\n' }}{% endif %}"
)
"""The same format as a Jinja chat template (stored in GGUF files as ``tokenizer.chat_template``)."""


def solar_prompt(user: str, system: str | None = None) -> str:
    """SOLAR-Instruct's single-turn prompt: optional system turn, the user turn, then the answer cue."""
    system_turn = f"### System:\n{system}\n\n" if system else ""
    return f"{system_turn}### User:\n{user}\n\n### Assistant:\n"
