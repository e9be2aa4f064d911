"""SOLAR's prompt format: the function and the Jinja chat template write the same bytes."""

import jinja2

from solar_lab.prompt import SOLAR_CHAT_TEMPLATE, solar_prompt


def test_solar_prompt_is_the_model_cards_format():
    assert solar_prompt("Who are you?") == "### User:\nWho are you?\n\n### Assistant:\n"
    assert solar_prompt("Hi", system="Be brief.") == "### System:\nBe brief.\n\n### User:\nHi\n\n### Assistant:\n"


def test_an_empty_system_turn_is_left_out():
    assert solar_prompt("Hi", system="") == solar_prompt("Hi")


def test_chat_template_renders_the_same_prompt():
    template = jinja2.Environment().from_string(SOLAR_CHAT_TEMPLATE)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who are you?"}]
    assert template.render(messages=messages, add_generation_prompt=True) == solar_prompt("Who are you?", "Be brief.")
    assert template.render(messages=messages[1:], add_generation_prompt=True) == solar_prompt("Who are you?")
