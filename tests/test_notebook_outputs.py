"""Stored notebook outputs a reader without a kernel can use: figures with images, final bars, controls in words.

The first test holds every committed notebook to the rules of `tools/notebooks.py check`; the
others show that `tools/notebooks.py run` produces such outputs and that the check catches
each kind of breach. No browser is needed: the figure painter is replaced by a stand-in.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from _tools import load_tool
from nbformat.v4 import new_code_cell, new_notebook, new_output

notebooks = load_tool("notebooks")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
FIGURE = {"data": [{"type": "scatter", "y": [1, 3, 2]}], "layout": {"title": {"text": "a figure"}}}
LOADER = '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>'


class Painter:
    """Stands in for kaleido: returns a fixed PNG and remembers what it was asked to draw."""

    def __init__(self) -> None:
        self.figures: list[dict] = []

    def __call__(self, figure: dict) -> str:
        self.figures.append(figure)
        return PNG


def notebook_with(*outputs, widgets: dict | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell("pass", outputs=list(outputs))
    notebook = new_notebook(cells=[cell])
    if widgets is not None:
        state = {"state": widgets, "version_major": 2, "version_minor": 0}
        notebook.metadata["widgets"] = {notebooks.WIDGET_STATE: state}
    return notebook


def view(model_id: str, text: str) -> nbformat.NotebookNode:
    data = {notebooks.WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id}, "text/plain": text}
    return new_output("display_data", data=data)


def model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0", "state": state}


def tqdm_bar(left: str, value: float, total: float, right: str) -> dict[str, dict]:
    return {
        "bar": model("HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_progress", "IPY_MODEL_right"]),
        "left": model("HTMLModel", value=left),
        "progress": model("FloatProgressModel", value=value, max=total, min=0.0),
        "right": model("HTMLModel", value=right),
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_outputs_read_well_without_a_kernel(path):
    # Fails until the notebooks are re-run with `make notebooks` (tools/notebooks.py run tidies them).
    assert notebooks.output_problems(nbformat.read(path, as_version=4)) == []


def test_a_finished_bar_keeps_its_final_line():
    state = tqdm_bar("DPO\u2007β=0.1:\u2007100%", 15.0, 15.0, "\u200715/15\u2007[00:00&lt;00:00,\u2007847.65it/s]")
    tidied = notebooks.tidy(notebook_with(view("bar", "DPO β=0.1:   0%|          | 0/15"), widgets=state), Painter())
    [output] = tidied.cells[0].outputs
    assert output.data == {"text/plain": "DPO β=0.1: 100%|██████████| 15/15 [00:00<00:00, 847.65it/s]"}
    assert "widgets" not in tidied.metadata


def test_a_bar_closed_before_its_last_refresh_shows_its_count():
    state = tqdm_bar("training:\u2007\u200785%", 40.0, 40.0, "\u200734/40\u2007[00:00&lt;00:00,\u2007171.23it/s]")
    tidied = notebooks.tidy(notebook_with(view("bar", "training:   0%|          | 0/40"), widgets=state), Painter())
    assert tidied.cells[0].outputs[0].data["text/plain"] == "training: 100%|██████████| 40/40"


def test_a_bar_without_a_total_keeps_its_count_line():
    state = tqdm_bar("", 28.0, 1.0, "Generating\u2007train\u2007split:\u200728\u2007examples\u2007[00:00,\u20071234.56\u2007examples/s]")
    tidied = notebooks.tidy(notebook_with(view("bar", "Generating train split: 0 examples"), widgets=state), Painter())
    assert tidied.cells[0].outputs[0].data["text/plain"] == "Generating train split: 28 examples [00:00, 1234.56 examples/s]"


def test_controls_become_words_followed_by_what_their_default_drew():
    captured = [new_output("display_data", data={notebooks.PLOTLY: FIGURE, "text/html": "<div>plotly</div>"}),
                new_output("stream", name="stdout", text="Q4_K_M: 3 tensors\n")]
    state = {
        "box": model("VBoxModel", children=["IPY_MODEL_m", "IPY_MODEL_type", "IPY_MODEL_out"]),
        "m": model("IntSliderModel", description="m", value=8, min=0, max=15),
        "type": model("DropdownModel", description="type", _options_labels=["F32", "Q8_0", "Q4_K_M"], index=2),
        "out": {"model_name": "OutputModel", "model_module": "@jupyter-widgets/output", "state": {"outputs": captured}},
    }
    painter = Painter()
    tidied = notebooks.tidy(notebook_with(view("box", "interactive(children=(IntSlider(…"), widgets=state), painter)
    words, figure, printed = tidied.cells[0].outputs
    assert words.data["text/plain"].splitlines() == [
        "m = 8  (a slider from 0 to 15; run the notebook to move it)",
        "type = Q4_K_M  (one of F32, Q8_0, Q4_K_M; run the notebook to choose)",
    ]
    assert set(figure.data) == {notebooks.PLOTLY, "image/png"} and painter.figures == [FIGURE]
    assert printed.text == "Q4_K_M: 3 tensors\n"
    assert notebooks.output_problems(tidied) == []


def test_figures_get_an_image_and_lose_html_and_the_cdn_loader():
    painter = Painter()
    outputs = [new_output("display_data", data={"text/html": LOADER}),
               new_output("display_data", data={notebooks.PLOTLY: FIGURE, "text/html": "<div>plotly</div>"}),
               new_output("display_data", data={notebooks.PLOTLY: FIGURE, "image/png": PNG})]
    tidied = notebooks.tidy(notebook_with(*outputs), painter)
    assert [set(output.data) for output in tidied.cells[0].outputs] == [{notebooks.PLOTLY, "image/png"}] * 2
    assert len(painter.figures) == 1  # a figure that has its image already is not drawn again


def test_a_real_run_stores_final_bars_controls_and_figure_images(tmp_path):
    source = (
        "import ipywidgets as widgets\nimport plotly.graph_objects as go\nimport plotly.io as pio\n"
        "from tqdm.auto import tqdm\n"
        "pio.renderers.default = 'plotly_mimetype+notebook_connected'\n"
        "for _ in tqdm(range(40), desc='training', leave=False): pass\n"
        "widgets.interact(lambda m: go.Figure(go.Scatter(y=[1, m])).show(), m=widgets.IntSlider(value=8, max=15, description='m'));"
    )
    notebook = new_notebook(cells=[new_code_cell(source)], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, path)
    painter = Painter()
    notebooks.run(path, timeout=120, paint=painter)
    stored = nbformat.read(path, as_version=4)
    bar, words, figure = stored.cells[0].outputs
    assert bar.data["text/plain"].startswith("training: 100%|██████████| 40/40")
    assert words.data["text/plain"] == "m = 8  (a slider from 0 to 15; run the notebook to move it)"
    assert figure.data["image/png"] == PNG and painter.figures[0]["data"][0]["y"] == [1, 8]
    assert notebooks.output_problems(stored) == []


@pytest.mark.parametrize("output, problem", [
    (new_output("stream", name="stderr", text="/x.py:1: FutureWarning: old\n"), "writes to stderr"),
    (new_output("stream", name="stdout", text="saved to /home/ada/solar/model.gguf\n"), "a machine path"),
    (new_output("stream", name="stdout", text="C:\\Users\\ada\\model.gguf\n"), "a machine path"),
    (new_output("display_data", data={"text/plain": "training:   0%|          | 0/40 [00:00<?, ?it/s]"}), "at 0 %"),
    (new_output("stream", name="stdout", text="{'loss': '0.6931', 'grad_norm': '4.784', 'epoch': '0.1'}\n"), "logger dict"),
    (new_output("display_data", data={notebooks.PLOTLY: FIGURE}), "without a static image"),
    (new_output("display_data", data={notebooks.PLOTLY: FIGURE, "image/png": PNG, "text/html": "<div/>"}), "text/html"),
    (new_output("display_data", data={"text/html": LOADER}), "CDN"),
    (view("abc", "IntSlider(value=8)"), "widget view"),
])
def test_the_check_names_each_kind_of_breach(output, problem):
    [found] = notebooks.output_problems(notebook_with(output))
    assert found.startswith("cell 0: ") and problem in found


def test_the_check_passes_ordinary_outputs():
    clean = notebook_with(
        new_output("stream", name="stdout", text="preference pairs: 1102 train {'premise': 380, 'comparison': 358}\n"),
        new_output("display_data", data={"text/plain": "training: 100%|██████████| 40/40 [00:07<00:00,  5.40it/s]"}),
        new_output("stream", name="stdout", text="see https://huggingface.co/upstage/SOLAR-10.7B-v1.0 and runs/dus/\n"),
        new_output("display_data", data={notebooks.PLOTLY: FIGURE, "image/png": PNG}),
    )
    assert notebooks.output_problems(clean) == []
    clean.metadata["widgets"] = {notebooks.WIDGET_STATE: {"state": {}}}
    assert notebooks.output_problems(clean) == ["metadata: widget state is stored (run tools/notebooks.py run to replace widgets)"]
