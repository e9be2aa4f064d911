"""A self-checking multiple-choice quiz per notebook: the questions, a grader and a widget form.

    from solar_lab import quiz; quiz.show("01")   # in a notebook: the questions, then buttons to answer
    quiz.grade("01", [0, 2, 1, 3])                # anywhere: which answers are right (0 is option (a))

`show` first displays the questions as Markdown (readable on GitHub, answers not revealed), then
a form built only from controls that behave alike on ipywidgets 7.7 (Colab) and 8.x.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import partial

import ipywidgets as widgets
from IPython.display import Markdown, display

LETTERS = "abcd"


@dataclass(frozen=True)
class Question:
    """One question: its text, 3-4 options, the index of the right one, and why it is right."""

    text: str
    options: tuple[str, ...]
    answer: int
    explanation: str


QUIZZES: dict[str, tuple[Question, ...]] = {
    "01": (
        Question(
            "SOLAR up-scales a 32-layer model with m = 8. What does the new stack hold?",
            (
                "48 layers: the original's first 24, then the copy's last 24",
                "64 layers: two full copies of the base, one after the other",
                "40 layers: the base's 32 plus 8 new, randomly initialised ones",
                "32 layers, each with an MLP twice as wide",
            ),
            0,
            "Dropping the last 8 layers of the original and the first 8 of the copy leaves 2·(32 − 8) = 48.",
        ),
        Question(
            "Why does depth up-scaling drop layers at the seam instead of stacking two full copies (m = 0)?",
            (
                "A Llama model cannot hold more than 48 layers",
                "The dropped layers carry the embeddings, which must not appear twice",
                "To shorten the layer distance at the seam, which a full repeat maximises",
            ),
            2,
            "In a full repeat the last layer feeds the first, which expects fresh embeddings; "
            "with m = 8 original layer 24 feeds copy layer 9, which has seen similar representations.",
        ),
        Question(
            "How does SOLAR 10.7B differ from the mixture of experts Mixtral 8x7B?",
            (
                "SOLAR routes every token to 2 of 8 expert MLPs",
                "SOLAR is dense: no router, every parameter works on every token",
                "SOLAR stores more parameters than Mixtral in total",
                "SOLAR adds cross-attention layers between its two halves",
            ),
            1,
            "DUS only makes the stack deeper; Mixtral stores 4.35× SOLAR's parameters but runs 2 experts per token.",
        ),
        Question(
            "Why must every copied layer get its own layer index in the up-scaled model?",
            (
                "Each attention layer writes its keys and values to the cache slot of its index",
                "The safetensors format rejects two tensors with the same name",
                "Rotary embeddings rotate by the layer index, not by the token position",
            ),
            0,
            "Copies that keep their old index share a KV-cache slot, so cached generation quietly goes wrong.",
        ),
    ),
    "02": (
        Question(
            "Why does the up-scaled model recover within a few steps, while a model of the same depth "
            "trained from scratch stays far behind?",
            (
                "Every one of its layers starts as a copy of a trained layer",
                "It trains with a larger learning rate than the model from scratch",
                "It reads more tokens per step than the model from scratch",
            ),
            0,
            "Starting from copied layers, the stack is already close to a working model; random weights are not.",
        ),
        Question(
            "What makes the comparison of the up-scaled model with its base trained further a fair one?",
            (
                "The deeper model gets more steps, since it has more parameters to train",
                "Each model is evaluated on the text it was trained on",
                "Same base, same new tokens, the same held-out probe, and several seeds",
            ),
            2,
            "Only with the same start, data and evaluation can a difference be put down to depth, and only "
            "a difference larger than the seeds' disagreement counts.",
        ),
        Question(
            "When can adding layers be expected to beat training the base further on the same new text?",
            (
                "Always: a deeper model is better at every budget",
                "When the base is full: its parameters hold all they can, and the data holds more",
                "When the base has learned everything its data holds",
                "Only when m = 0, so no trained layer is lost",
            ),
            1,
            "A full base cannot take in more however long it trains; new parameters can. A base whose data is "
            "the limit gains as much from more data as from more depth.",
        ),
        Question(
            "How did the SOLAR authors choose m = 8?",
            (
                "By an ablation over every m from 0 to 16",
                "To land between the 7B and 13B classes; no other m was tried (compute limits)",
                "It is the only m for which the tensor shapes still fit together",
                "It equals Mistral-7B's number of key/value heads",
            ),
            1,
            "The paper fixed the depth at 48 layers for the size it wanted and names the untuned m as a limitation.",
        ),
    ),
    "03": (
        Question(
            "Why does instruction tuning take the loss on the answer tokens only?",
            (
                "So that the model learns to answer, not to write questions",
                "To save memory: masked tokens are not stored",
                "Because the model must not see the prompt while it trains",
            ),
            0,
            "Prompt tokens get the label −100, which cross-entropy skips; the model still reads them as context.",
        ),
        Question(
            "What is the reference model in DPO for?",
            (
                "A separate reward model that scores each answer",
                "A sampler of fresh rejected answers during training",
                "A frozen copy of the starting model; the reward β·log(π/π_ref) is relative to it",
                "A larger teacher whose outputs the policy imitates",
            ),
            2,
            "The policy is rewarded for raising the chosen answer relative to the reference more than the rejected "
            "one, which keeps it close to where it started; no reward model or sampling is needed.",
        ),
        Question(
            "With the same data and steps, what does a larger β do?",
            (
                "It keeps the policy closer to the reference",
                "It lets the policy move further from the reference",
                "It raises the learning rate",
            ),
            0,
            "The loss saturates once β times the log-ratio margin is a few units, "
            "so a larger β stops the policy sooner.",
        ),
        Question(
            "How was SOLAR-10.7B-Instruct made from its two DPO candidates?",
            (
                "The candidate with the better H6 score was kept as it was",
                "The two became experts behind a router, as in a mixture of experts",
                "Their output probabilities are averaged at every token",
                "Their weights were averaged 0.5/0.5 into one model",
            ),
            3,
            "Two fine-tunes of one parent stay close in weight space, so the element-wise mean of their weights works.",
        ),
    ),
    "04": (
        Question(
            "What does a Q4_K block, the bulk of a Q4_K_M file, store?",
            (
                "32 weights as signed bytes and one float16 scale",
                "256 4-bit weights, 6-bit scales per sub-block of 32, float16 super-block scales",
                "256 weights in float16, compressed losslessly to 4 bits each",
            ),
            1,
            "Quantizing the sub-block scales themselves brings Q4_K to about 4.5 bits per weight; "
            "it is also why K-quants need rows that are a multiple of 256.",
        ),
        Question(
            "Why can a Colab T4 (320 GB/s) decode at most about 50 tokens/s with the 6.46 GB Q4_K_M file?",
            (
                "llama.cpp caps generation at 50 tokens per second",
                "Every token reads all the weights once: at most bandwidth ÷ file size tokens/s",
                "The T4's 15 GB of memory holds the KV cache of only 50 tokens",
            ),
            1,
            "320 GB/s ÷ 6.46 GB ≈ 50 tokens/s; smaller files are faster for the same reason they are worse.",
        ),
        Question(
            "Why are the rows of the q and k projections permuted when a Hugging Face Llama is exported to GGUF?",
            (
                "GGUF stores every matrix transposed",
                "llama.cpp quantizes better when rows are sorted by magnitude",
                "RoPE pairs dimensions i and i + d/2 in Hugging Face, neighbours in llama.cpp",
            ),
            2,
            "Without the reorder the file loads fine but computes something else; with it the logits match PyTorch.",
        ),
        Question(
            "The article prompts with `### User:nWho are you?nn### Assistant:`. What went wrong?",
            (
                "Its backslashes were lost: the newlines the template needs became the letter n",
                "SOLAR-Instruct expects the Llama-2 [INST] template instead",
                "The prompt must start with a system message",
            ),
            0,
            "SOLAR-Instruct was tuned on “### User:”, a newline, the prompt, a blank line, "
            "then “### Assistant:” and a newline.",
        ),
    ),
    "05": (
        Question(
            "How does lm-evaluation-harness score a multiple-choice item such as ARC?",
            (
                "It generates an answer and compares the text with the gold choice",
                "It sums each choice's token log-probabilities and takes the largest",
                "It asks the model for the letter of the best choice",
            ),
            1,
            "Each choice is appended to the context; acc takes the choice with the highest summed log-probability.",
        ),
        Question(
            "When do acc and acc_norm disagree?",
            (
                "When length decides: the best sum and the best sum per character differ",
                "When the model is not sure, so acc_norm averages over several runs",
                "Only on GSM8K, whose answers are numbers",
            ),
            0,
            "acc_norm divides each choice's log-likelihood by its length in characters before picking.",
        ),
        Question(
            "Why does every task of H6 in miniature hold only items whose text never appeared in training?",
            (
                "To make the tasks harder than the real H6",
                "So a score measures what a model learned, not text it memorised",
                "Because lm-evaluation-harness refuses items that appear in a training set",
            ),
            1,
            "A held-out item tests knowledge and skill; a training item could be answered by recall of its text.",
        ),
        Question(
            "The paper averaged two DPO candidates (0.5/0.5) for SOLAR-10.7B-Instruct. Why can averaging work at all?",
            (
                "Two fine-tunes of one parent stay close, so points between them work too",
                "Averaging doubles the number of parameters",
                "The two candidates were trained on the same data and seed: they are identical",
            ),
            0,
            "Both candidates start from the same instruction-tuned model and move little; their average often keeps "
            "what each learned.",
        ),
    ),
}


def questions(notebook: str) -> tuple[Question, ...]:
    """The questions of one notebook ("01" to "05"); raises ValueError for an unknown id."""
    if notebook not in QUIZZES:
        raise ValueError(f"no quiz for notebook {notebook!r}; valid ids: {', '.join(QUIZZES)}")
    return QUIZZES[notebook]


def grade(notebook: str, answers: list[int]) -> list[bool]:
    """Whether each answer (an option index, 0 for (a)) is right; raises ValueError for a malformed list."""
    quiz = questions(notebook)
    if len(answers) != len(quiz):
        raise ValueError(f"quiz {notebook} has {len(quiz)} questions, got {len(answers)} answers")
    for number, (question, choice) in enumerate(zip(quiz, answers, strict=True), start=1):
        if not isinstance(choice, int) or not 0 <= choice < len(question.options):
            raise ValueError(
                f"answer {number} must be an option index from 0 to {len(question.options) - 1}, got {choice!r}"
            )
    return [choice == question.answer for question, choice in zip(quiz, answers, strict=True)]


def feedback(question: Question, choice: int) -> str:
    """The line shown after option `choice` is picked."""
    return f"right ✓ — {question.explanation}" if choice == question.answer else "not yet — try another option"


def markdown(notebook: str) -> str:
    """The questions and their options as Markdown, without the answers."""
    lines = [f"**Quiz {notebook}**"]
    for number, question in enumerate(questions(notebook), start=1):
        lines += ["", f"{number}. {question.text}", ""]
        lines += [f"   - ({letter}) {option}" for letter, option in zip(LETTERS, question.options, strict=False)]
    lines += ["", f'Without a kernel: `quiz.grade("{notebook}", [...])`, one option index per question, 0 for (a).']
    return "\n".join(lines)


class Form(widgets.VBox):
    """The quiz as a box of questions, each a label, one button per option and a feedback line."""

    def __repr__(self) -> str:
        """What a reader without a kernel sees in place of the buttons."""
        return f"(answer buttons for the {len(self.children)} questions above: run the notebook to use them)"


def _reply(line: widgets.HTML, question: Question, choice: int, _button: widgets.Button) -> None:
    """A button's click handler: write the feedback for its option into the question's line."""
    line.value = html.escape(feedback(question, choice))


def form(notebook: str) -> Form:
    """The interactive quiz: per question a VBox of an HTML label, a VBox of buttons and an HTML feedback line."""
    boxes = []
    for number, question in enumerate(questions(notebook), start=1):
        line = widgets.HTML()
        buttons = []
        for choice, option in enumerate(question.options):
            button = widgets.Button(
                description=f"({LETTERS[choice]}) {option}", tooltip=option, layout=widgets.Layout(width="auto")
            )
            button.on_click(partial(_reply, line, question, choice))
            buttons.append(button)
        label = widgets.HTML(f"<b>{number}. {html.escape(question.text)}</b>")
        boxes.append(widgets.VBox([label, widgets.VBox(buttons), line]))
    return Form(boxes)


def show(notebook: str) -> None:
    """Display the questions as Markdown, then the form that checks each answer when it is clicked."""
    display(Markdown(markdown(notebook)), form(notebook))
