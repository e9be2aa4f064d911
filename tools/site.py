"""Build the course site: a landing page with the lesson table, then one page per executed notebook.

    python tools/site.py                # writes build/site; open build/site/index.html
    python tools/site.py --out DIR      # somewhere else
    python tools/site.py --notebooks DIR  # lessons from another folder (e.g. copies being tried out)

Nothing runs here: the pages show the outputs `make notebooks` stored. Sphinx with MyST-NB and
the Jupyter Book theme (sphinx-book-theme) renders them, with a Colab button on every lesson
and previous/next links between lessons. Each plotly figure is drawn in the page from its
stored JSON by the plotly.js that ships with the plotly package, so the site works offline.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

from notebooks import PLOTLY, is_plotly_loader
from solar_lab.project import BRANCH, REPOSITORY, colab_url

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
REMOTE_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "_static/colab-badge.svg"  # drawn in docs/_static: the page loads nothing from the network
NUMBER = re.compile(r"^\d+\s*·\s*")


class SiteError(Exception):
    """A site build that cannot go on, with a one-line reason."""


def lessons(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def title(notebook: nbformat.NotebookNode) -> str:
    """A lesson's title: the first heading of its first cell, without its number."""
    heading = next((line for line in notebook.cells[0].source.splitlines() if line.startswith("# ")), "# untitled")
    return NUMBER.sub("", heading[2:].strip())


def figure_html(figure: dict, div_id: str) -> str:
    """A plotly figure as an HTML fragment that draws itself with the page's plotly.js."""
    import plotly.io as pio

    return pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=div_id)


def for_site(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of a notebook for its page: figures drawn by the page, the Colab badge from the site.

    Each figure's JSON and image give way to the HTML that draws it; Sphinx knows no plotly type.
    """
    page = copy.deepcopy(notebook)
    figures = 0
    for cell in page.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace(REMOTE_BADGE, LOCAL_BADGE)
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs = [output for output in cell.outputs if not is_plotly_loader(output)]
        for output in cell.outputs:
            if PLOTLY in output.get("data", {}):
                figures += 1
                output.data = {"text/html": figure_html(output.data[PLOTLY], f"{name}-figure-{figures}")}
    return page


def lesson_table(paths: list[Path]) -> str:
    """The landing page's table of lessons (MyST), and the hidden table of contents behind the sidebar."""
    rows = ["| # | lesson | open it |", "|---|---|---|"]
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        github = f"https://github.com/{REPOSITORY}/blob/{BRANCH}/notebooks/{path.name}"
        nbviewer = f"https://nbviewer.org/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{path.name}"
        badge = f"[![Open in Colab]({LOCAL_BADGE})]({colab_url(f'notebooks/{path.name}')})"
        rows.append(f"| {path.name[:2]} | [{title(notebook)}]({path.name}) | {badge} [nbviewer]({nbviewer}) · [GitHub]({github}) |")
    toctree = ["```{toctree}", ":hidden:", ":maxdepth: 2", "", *(path.stem for path in paths), "```"]
    return "\n".join([*rows, "", *toctree, ""])


def assemble(source: Path, paths: list[Path]) -> None:
    """Lay out Sphinx's source folder: docs/, the lesson table, the notebooks for their pages, plotly.js."""
    from plotly.offline import get_plotlyjs

    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(DOCS, source)
    (source / "lessons.md").write_text(lesson_table(paths))
    for path in paths:
        nbformat.write(for_site(nbformat.read(path, as_version=4), path.stem), source / path.name)
    (source / "_static" / "plotly.min.js").write_text(get_plotlyjs())


def build(out: Path, work: Path, paths: list[Path]) -> None:
    """Build the site into ``out``; Sphinx's warnings count as errors."""
    try:
        from sphinx.cmd.build import build_main
    except ImportError:
        raise SiteError("the site is built with Sphinx and MyST-NB: pip install -e '.[docs]'") from None
    if not paths:
        raise SiteError("no notebooks to publish")
    source = work / "source"
    assemble(source, paths)
    shutil.rmtree(out, ignore_errors=True)
    status = build_main(["-b", "html", "-q", "-W", "--keep-going", "-d", str(work / "doctrees"), str(source), str(out)])
    if status != 0:
        raise SiteError(f"sphinx-build failed (status {status}); its warnings are above")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="where the site goes")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the folder of numbered notebooks")
    args = parser.parse_args()
    start = time.perf_counter()
    paths = lessons(args.notebooks)
    try:
        build(args.out, ROOT / "build" / "site-work", paths)
    except SiteError as error:
        print(f"tools/site.py: {error}", file=sys.stderr)
        return 1
    print(f"site: {args.out / 'index.html'} ({len(paths)} lessons) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
