"""Run notebooks in place, check their stored outputs, or sync their Colab badges and install cells.

    python tools/notebooks.py run notebooks/01_layer_surgery.ipynb   # execute, tidy and save outputs
    python tools/notebooks.py check notebooks/*.ipynb                # exit 1 if a stored output breaks a rule
    python tools/notebooks.py sync notebooks/*.ipynb                 # rewrite badge + install spec
    python tools/notebooks.py sync --check notebooks/*.ipynb         # exit 1 if anything is stale

`run` stores what a reader without a kernel (GitHub, nbviewer, a course site) can see:
every plotly figure also carries a PNG drawn by plotly's exporter (kaleido, which drives the
system's Chromium), every progress bar its final line, and every ipywidgets control a line
saying its default value followed by what that value drew. JupyterLab still draws each
figure from its plotly JSON; a person who runs a notebook still gets live bars and controls.
"""

from __future__ import annotations

import argparse
import ast
import base64
import copy
import html
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from solar_lab.project import colab_badge, install_spec

ROOT = Path(__file__).resolve().parents[1]
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$", re.MULTILINE)
INSTALL_SPEC = re.compile(r'"solar-lab(?:\[(?P<extras>[^\]]*)\])? @ git\+[^"]*"')

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATIC_IMAGES = ("image/png", "image/svg+xml")
PLOTLY_LOADER = "window.PlotlyConfig"  # the script plotly's notebook renderers emit once to fetch plotly.js
MODEL_REF = "IPY_MODEL_"
BAR_WIDTH = 10  # tqdm's bar width when it does not know the terminal's
FIGURE_SPACE = "\u2007"  # tqdm's notebook bars write spaces as figure spaces
STARTED_BAR = re.compile(r"(?<![\d.])0%\|")
LOGGER_KEYS = {"loss", "grad_norm", "learning_rate", "epoch", "train_runtime", "train_loss", "eval_loss"}
MACHINE_PATH = re.compile(
    r"(?<![\w.])/(?:home|root|tmp|work|usr|opt|var|private|Users|mnt|srv)/[^\s'\"]+"
    r"|site-packages|dist-packages|[A-Za-z]:\\\\?(?:Users|Program)"
)

Output = nbformat.NotebookNode
Painter = Callable[[dict], str]


def save(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook atomically (temporary name, then rename)."""
    temporary = path.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, path)


# --- widgets: what a reader without a kernel should see in place of a widget ---------------


def widget_models(notebook: nbformat.NotebookNode) -> dict[str, dict]:
    """The widget state nbclient stored in the notebook's metadata: model id -> model."""
    return notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def children(model: dict, models: dict[str, dict]) -> list[dict]:
    """The child models of a box widget."""
    refs = model["state"].get("children", [])
    return [models[ref.removeprefix(MODEL_REF)] for ref in refs if ref.removeprefix(MODEL_REF) in models]


def plain(widget_html: str) -> str:
    """An HTML widget's value as text (tqdm escapes it and uses figure spaces)."""
    return html.unescape(widget_html).replace(FIGURE_SPACE, " ")


def progress_line(model: dict, models: dict[str, dict]) -> str | None:
    """The final one-line text of a tqdm notebook bar (an HBox of HTML, progress, HTML), else None.

    tqdm sets the bar's value on every update but its texts at most ten times a second, and a bar
    made with leave=False is closed without a last refresh: stale texts give way to the count.
    """
    parts = children(model, models)
    names = [part["model_name"] for part in parts]
    if len(parts) != 3 or names[0] != "HTMLModel" or names[2] != "HTMLModel" or "Progress" not in names[1]:
        return None
    from tqdm.std import Bar

    left, right = plain(parts[0]["state"].get("value", "")), plain(parts[2]["state"].get("value", ""))
    value, total = parts[1]["state"].get("value", 0), parts[1]["state"].get("max", 0)
    if not left or not total:  # no total: tqdm writes its whole line on the right, and no bar
        return f"{left} {right}".strip()
    percent = f"{100 * value / total:3.0f}%"
    bar = format(Bar(value / total, BAR_WIDTH))
    if left.endswith(percent.strip()):
        return f"{left}|{bar}|{right}"
    description = re.sub(r"\s*\d+%$", "", left)
    return f"{description} {percent}|{bar}| {value:g}/{total:g}".lstrip()


def control_line(model: dict) -> str | None:
    """A control's default state in words, e.g. ``m = 8  (a slider from 0 to 15)``, else None."""
    state = model["state"]
    name = state.get("description") or model["model_name"].removesuffix("Model")
    if "_options_labels" in state and state.get("index") is not None:
        labels = state["_options_labels"]
        return f"{name} = {labels[state['index']]}  (one of {', '.join(labels)}; run the notebook to choose)"
    if "value" in state and "min" in state and "max" in state:
        return f"{name} = {state['value']}  (a slider from {state['min']} to {state['max']}; run the notebook to move it)"
    if model["model_name"] in ("CheckboxModel", "ToggleButtonModel", "TextModel", "IntTextModel", "FloatTextModel"):
        return f"{name} = {state.get('value')}  (run the notebook to change it)"
    return None


def widget_outputs(model: dict, models: dict[str, dict]) -> tuple[list[str], list[dict]]:
    """Lines for the controls inside a widget, and the outputs its Output widgets captured."""
    if model["model_name"] == "OutputModel":
        return [], list(model["state"].get("outputs", []))
    line = control_line(model)
    if line is not None:
        return [line], []
    lines: list[str] = []
    outputs: list[dict] = []
    for child in children(model, models):
        child_lines, child_outputs = widget_outputs(child, models)
        lines += child_lines
        outputs += child_outputs
    return lines, outputs


def static_widget(output: Output, models: dict[str, dict]) -> list[Output]:
    """What replaces a widget's view: its bar's final line, or its controls' defaults and what they drew.

    A widget whose model is unknown keeps only its own text/plain.
    """
    model = models.get(output.data[WIDGET_VIEW].get("model_id", ""))
    text = output.data.get("text/plain", "")
    captured: list[dict] = []
    if model is not None:
        line = progress_line(model, models)
        if line is None:
            lines, captured = widget_outputs(model, models)
            line = "\n".join(lines) or text
        text = line
    replaced = nbformat.from_dict({"output_type": "display_data", "data": {"text/plain": text}, "metadata": {}})
    return [replaced, *(nbformat.from_dict(copy.deepcopy(item)) for item in captured)]


# --- figures: plotly JSON plus a static image, no HTML that GitHub would pick instead -------


@contextmanager
def figure_painter() -> Iterator[Painter]:
    """Plotly's exporter (kaleido with the system's Chromium), kept open for a whole run.

    Raises SystemExit with one line when kaleido or a browser is missing, before any notebook runs.
    """
    import plotly.graph_objects as go
    import plotly.io as pio

    try:
        import kaleido
    except ImportError:
        raise SystemExit("tools/notebooks.py: figure images need kaleido: pip install -e '.[docs]'") from None

    def paint(figure: dict) -> str:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The kopts argument is ignored", UserWarning)
            return base64.b64encode(pio.to_image(figure, format="png")).decode()

    try:
        paint(go.Figure().to_dict())  # without the server, a missing browser fails fast instead of hanging
    except RuntimeError as error:
        first = next((line for line in str(error).splitlines() if line.strip()), "no browser")
        raise SystemExit(
            f"tools/notebooks.py: figure images need Chromium ({first.strip()}): "
            "`make browser` installs the system's package"
        ) from None
    kaleido.start_sync_server(silence_warnings=True)
    try:
        yield paint
    finally:
        kaleido.stop_sync_server(silence_warnings=True)


def with_image(output: Output, paint: Painter) -> Output:
    """A plotly output with a PNG of itself beside its JSON, and without plotly's HTML."""
    output.data.pop("text/html", None)
    if not any(kind in output.data for kind in STATIC_IMAGES):
        output.data["image/png"] = paint(output.data[PLOTLY])
    return output


def is_plotly_loader(output: Output) -> bool:
    """True for the script-only output that loads plotly.js from a CDN (nothing to see without it)."""
    data = output.get("data", {})
    return set(data) == {"text/html"} and PLOTLY_LOADER in data["text/html"]


def tidy(notebook: nbformat.NotebookNode, paint: Painter) -> nbformat.NotebookNode:
    """Make stored outputs readable without a kernel (see the module docstring); drop widget state."""
    models = widget_models(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        pending, outputs = list(cell.outputs), []
        while pending:
            output = pending.pop(0)
            data = output.get("data", {})
            if is_plotly_loader(output):
                continue
            if WIDGET_VIEW in data:
                pending[:0] = static_widget(output, models)
                continue
            outputs.append(with_image(output, paint) if PLOTLY in data else output)
        cell.outputs = outputs
    notebook.metadata.pop("widgets", None)
    return notebook


# --- the rules every stored output keeps ---------------------------------------------------


def output_text(output: Output) -> str:
    """The text an output shows or carries, images left out."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    return "\n".join(str(value) for kind, value in output.get("data", {}).items() if not kind.startswith("image/"))


def is_logger_dict(line: str) -> bool:
    """True for a line that is a trainer's raw log dict, e.g. ``{'loss': '0.69', 'grad_norm': ...}``."""
    line = line.strip()
    if not (line.startswith("{") and line.endswith("}")):
        return False
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return False
    return isinstance(value, dict) and bool(LOGGER_KEYS & set(map(str, value)))


def output_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Every stored output that breaks a rule, as ``cell N: what`` lines (empty when all is well)."""
    problems = []
    if "widgets" in notebook.metadata:
        problems.append("metadata: widget state is stored (run tools/notebooks.py run to replace widgets)")
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data, text = output.get("data", {}), output_text(output)
            found = []
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found.append(f"writes to stderr: {text.strip().splitlines()[0][:80] if text.strip() else '(empty)'}")
            if PLOTLY in data and not any(kind in data for kind in STATIC_IMAGES):
                found.append("a plotly figure without a static image")
            if PLOTLY in data and "text/html" in data:
                found.append("a plotly figure with text/html, which GitHub shows instead of its image")
            if is_plotly_loader(output):
                found.append("plotly's script that loads plotly.js from a CDN")
            if WIDGET_VIEW in data:
                found.append("a widget view (readers without a kernel see no state)")
            if STARTED_BAR.search(text):
                found.append("a progress bar stored at 0 %")
            if match := MACHINE_PATH.search(text):
                found.append(f"a machine path: {match.group(0)[:80]}")
            if any(is_logger_dict(line) for line in text.splitlines()):
                found.append("a raw logger dict")
            problems += [f"cell {number}: {what}" for what in found]
    return problems


# --- actions -------------------------------------------------------------------------------


def run(path: Path, timeout: int, paint: Painter) -> tuple[float, float]:
    """Execute a notebook top to bottom in a fresh kernel, tidy and store its outputs.

    Returns the seconds spent executing and tidying.
    """
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    executed = time.perf_counter()
    save(tidy(notebook, paint), path)
    return executed - start, time.perf_counter() - executed


def synced(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The notebook with its badge and install spec derived from solar_lab.project."""
    relative = path.resolve().relative_to(ROOT).as_posix()
    first = notebook.cells[0]
    first.source = BADGE_LINE.sub(lambda _: colab_badge(relative), first.source, count=1)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = INSTALL_SPEC.sub(
                lambda match: f'"{install_spec(tuple(filter(None, (match["extras"] or "").split(","))))}"',
                cell.source,
            )
    return notebook


def write_changed(notebooks: dict[Path, nbformat.NotebookNode], check: bool, done: str) -> int:
    """Save each notebook whose file is missing or differs, printing ``done`` (or, with ``check``, only report it).

    Returns 1 when ``check`` found a stale file, else 0.
    """
    stale = [path for path, notebook in notebooks.items() if not path.is_file() or nbformat.read(path, as_version=4) != notebook]
    for path in stale:
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            save(notebooks[path], path)
        print(f"{path}: {'stale' if check else done}")
    return 1 if check and stale else 0


def report(path: Path, problems: list[str]) -> None:
    """Print a notebook's broken rules, one per line."""
    for problem in problems:
        print(f"{path}: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "check", "sync"))
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="with sync: report stale notebooks, change nothing")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell when running")
    args = parser.parse_args()
    missing = [path for path in args.paths if not path.is_file()]
    if missing:
        print(f"tools/notebooks.py: no such notebook: {missing[0]}", file=sys.stderr)
        return 2
    if args.action == "run":
        broken = False
        with figure_painter() as paint:
            for path in args.paths:
                executed, tidied = run(path, args.timeout, paint)
                print(f"{path}: ran in {executed:.1f} s, outputs tidied in {tidied:.1f} s", flush=True)
                problems = output_problems(nbformat.read(path, as_version=4))
                report(path, problems)
                broken |= bool(problems)
        return 1 if broken else 0
    if args.action == "check":
        problems = {path: output_problems(nbformat.read(path, as_version=4)) for path in args.paths}
        for path, found in problems.items():
            report(path, found)
        return 1 if any(problems.values()) else 0
    return write_changed({path: synced(nbformat.read(path, as_version=4), path) for path in args.paths}, args.check, "synced")


if __name__ == "__main__":
    sys.exit(main())
