"""The knowledge world: reproducible, its bits counted, every biography true to it and variously worded."""

import math
import random

import pytest

from solar_lab import world as world_module
from solar_lab.world import ATTRIBUTE_SIZES, PRONOUNS, TEMPLATES, World, biography


@pytest.fixture(scope="module")
def world():
    return World.make(500, seed=3)


def test_same_seed_same_world_other_seed_other_facts(world):
    assert World.make(500, seed=3) == world
    other = World.make(500, seed=4)
    assert [p.facts for p in other.people] != [p.facts for p in world.people]
    assert other.vocabulary == world.vocabulary  # the words stay; only who has which value changes


def test_names_are_distinct_and_values_come_from_their_sets(world):
    assert len({p.name for p in world.people}) == len(world.people)
    for attribute, size in ATTRIBUTE_SIZES.items():
        values = world.vocabulary.values[attribute]
        assert len(set(values)) == size
        assert all(p.facts[attribute] in values for p in world.people)
    words = [w for ws in world.vocabulary.values.values() for w in ws] + list(world.first_names)
    words += list(world.vocabulary.last_names)
    assert len(set(words)) == len(words)  # no name is also a value, no value in two attributes
    assert all(" " not in w for w in words)


def test_bits_are_people_times_sum_of_log2_value_counts(world):
    assert world.bits() == pytest.approx(500 * sum(math.log2(n) for n in ATTRIBUTE_SIZES.values()))


def test_world_size_is_checked():
    with pytest.raises(ValueError, match="a world holds 1 to"):
        World.make(0)
    with pytest.raises(ValueError, match="a world holds 1 to"):
        World.make(10**7)


def test_biography_states_every_fact_once_at_its_span(world):
    rng = random.Random(0)
    for person in world.people[:100]:
        text, spans = biography(person, rng)
        assert text.startswith(person.name)
        assert sorted(s.label for s in spans) == sorted(ATTRIBUTE_SIZES)
        for span in spans:
            assert text[span.start:span.end] == person.facts[span.label]
        assert text.count(".") == len(ATTRIBUTE_SIZES)
        subject, possessive = PRONOUNS[person.pronoun]
        other_subject, other_possessive = next(forms for key, forms in PRONOUNS.items() if key != person.pronoun)
        assert f"{other_subject} " not in text and f" {other_possessive} " not in text


def test_biographies_of_one_person_vary_in_order_template_and_naming(world):
    rng = random.Random(1)
    person = world.people[0]
    texts = {biography(person, rng)[0] for _ in range(50)}
    orders = {tuple(s.label for s in biography(person, rng)[1]) for _ in range(50)}
    assert len(texts) == 50 and len(orders) > 20
    joined = " ".join(texts)
    _, possessive = PRONOUNS[person.pronoun]
    for forms in TEMPLATES.values():
        for form in forms:  # every template shows up
            assert form.split("{v}")[0].split("} ", 1)[-1].format(p=possessive) in joined
    assert PRONOUNS[person.pronoun][0] + " " in joined and joined.count(person.name) > 50


def test_jobs_take_a_without_telling_the_value():
    assert all(job[0] not in "aeiou" for job in world_module.JOBS)
