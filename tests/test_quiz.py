"""The notebook quizzes: well-formed questions, the grader, the feedback and the widget form."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
from IPython.display import Markdown

from solar_lab import quiz

BUTTON_TEXT = 80  # longer options would be cut off on a button


def right_answers(notebook: str) -> list[int]:
    return [question.answer for question in quiz.QUIZZES[notebook]]


def test_every_notebook_has_three_or_four_well_formed_questions():
    assert list(quiz.QUIZZES) == ["01", "02", "03", "04", "05"]
    for questions in quiz.QUIZZES.values():
        assert 3 <= len(questions) <= 4
        assert len({question.text for question in questions}) == len(questions)
        for question in questions:
            assert 3 <= len(question.options) <= 4
            assert len(set(question.options)) == len(question.options)
            assert 0 <= question.answer < len(question.options)
            assert max(map(len, question.options)) <= BUTTON_TEXT
            assert question.explanation.strip()


def test_the_right_answers_grade_right_and_every_other_option_wrong():
    for notebook, questions in quiz.QUIZZES.items():
        assert quiz.grade(notebook, right_answers(notebook)) == [True] * len(questions)
        wrong = [(question.answer + 1) % len(question.options) for question in questions]
        assert quiz.grade(notebook, wrong) == [False] * len(questions)
    mixed = right_answers("03")
    mixed[1] = (mixed[1] + 1) % len(quiz.QUIZZES["03"][1].options)
    assert quiz.grade("03", mixed) == [True, False, True, True]


@pytest.mark.parametrize(
    ("answers", "message"),
    [([0, 0], "has 4 questions, got 2 answers"), ([0, 0, 9, 0], "answer 3 must be an option index from 0 to")],
)
def test_grade_rejects_a_malformed_answer_list(answers, message):
    with pytest.raises(ValueError, match=message):
        quiz.grade("01", answers)


def test_feedback_explains_a_right_answer_and_encourages_after_a_wrong_one():
    question = quiz.QUIZZES["04"][1]
    assert quiz.feedback(question, question.answer) == f"right ✓ — {question.explanation}"
    assert quiz.feedback(question, (question.answer + 1) % 3) == "not yet — try another option"


def test_an_unknown_notebook_id_names_the_valid_ones():
    for call in (lambda: quiz.show("06"), lambda: quiz.grade("5", [])):
        with pytest.raises(ValueError, match=r"valid ids: 01, 02, 03, 04, 05$"):
            call()


def test_the_markdown_shows_every_question_and_option_but_no_answer():
    for notebook, questions in quiz.QUIZZES.items():
        text = quiz.markdown(notebook)
        for question in questions:
            assert question.text in text
            assert all(option in text for option in question.options)
            assert question.explanation not in text
        assert "✓" not in text and "right" not in text.lower()
    first = quiz.QUIZZES["01"][0]
    assert f"   - (a) {first.options[0]}\n   - (b) {first.options[1]}" in quiz.markdown("01")


def test_show_displays_the_markdown_then_a_form_whose_buttons_answer(monkeypatch):
    shown = []
    monkeypatch.setattr(quiz, "display", lambda *objects: shown.extend(objects))
    quiz.show("02")
    markdown, form = shown
    assert isinstance(markdown, Markdown) and markdown.data == quiz.markdown("02")
    assert isinstance(form, widgets.VBox) and "run the notebook" in repr(form)
    questions = quiz.QUIZZES["02"]
    assert len(form.children) == len(questions)
    for box, question in zip(form.children, questions, strict=True):
        label, buttons, line = box.children
        assert isinstance(label, widgets.HTML) and isinstance(line, widgets.HTML)
        assert question.text in label.value and line.value == ""
        assert [button.description for button in buttons.children] == [
            f"({letter}) {option}" for letter, option in zip("abcd", question.options, strict=False)
        ]
        wrong = (question.answer + 1) % len(question.options)
        buttons.children[wrong].click()
        assert line.value == "not yet — try another option"
        buttons.children[question.answer].click()
        assert line.value.startswith("right ✓ — ")
    first_line = form.children[0].children[2]
    assert all(box.children[2] is not first_line for box in form.children[1:])


def test_the_form_escapes_html_in_the_feedback(monkeypatch):
    question = quiz.Question("2 < 3?", ("yes", "no", "maybe"), 0, "a <b> is not bold here")
    monkeypatch.setitem(quiz.QUIZZES, "01", (question,))
    (box,) = quiz.form("01").children
    label, buttons, line = box.children
    buttons.children[0].click()
    assert label.value == "<b>1. 2 &lt; 3?</b>"
    assert line.value == "right ✓ — a &lt;b&gt; is not bold here"
