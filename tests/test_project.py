"""The workbook's promises about itself: badges, install cells, template, dependency lists."""

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from solar_lab.project import BRANCH, REPOSITORY, repository_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TEMPLATE_HEADINGS = ("## What you will learn", "## Theory", "## Practice", "## What we measured", "## Exercises", "## References")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def install_specs(source: str) -> list[str]:
    return re.findall(r'%pip install[^"\n]*"([^"]+)"', source)


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("01_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_opens_this_very_notebook(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    urls = re.findall(r"\((https://colab\.research\.google\.com/github/[^)]+)\)", first.source)
    assert urls == [f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{path.name}"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_from_the_repository_only_on_colab(path):
    setup = code_cells(nbformat.read(path, as_version=4))[0].source
    assert 'if "google.colab" in sys.modules:' in setup
    specs = install_specs(setup)
    assert len(specs) == 1 and specs[0].endswith(f" @ git+{repository_url()}@{BRANCH}")
    assert re.fullmatch(r"solar-lab(\[[a-z,]+\])? @ .*", specs[0])
    assert "runtime.setup(" in setup


def test_notebook_01_does_not_build_llama_cpp_on_colab():
    setup = code_cells(nbformat.read(NOTEBOOKS[0], as_version=4))[0].source
    extras = re.match(r"solar-lab(?:\[([a-z,]*)\])?", install_specs(setup)[0]).group(1) or ""
    heavy = {"gguf", "dev"}
    assert not heavy & set(extras.split(","))
    assert not any("llama" in dep for dep in PYPROJECT["project"]["dependencies"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_template_and_has_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    positions = [markdown.find(heading) for heading in TEMPLATE_HEADINGS]
    assert -1 not in positions and positions == sorted(positions), positions
    cells = code_cells(notebook)
    assert any(cell.source.startswith("# NBVAL_CHECK_OUTPUT") for cell in cells)
    assert all(cell.outputs or not cell.source.startswith("# NBVAL_CHECK_OUTPUT") for cell in cells)
    assert not any(re.search(r"(?<![\w.])input\(", cell.source) for cell in cells)
    assert not any(output.get("output_type") == "error" for cell in cells for output in cell.outputs)
    checked = [cell for cell in cells if cell.source.startswith("# NBVAL_CHECK_OUTPUT")]
    # nbval compares every output of a checked cell: figures and widgets carry random ids, so only text belongs there
    assert all(output.output_type == "stream" or set(output.get("data", {})) <= {"text/plain"}
               for cell in checked for output in cell.outputs), path.name


def test_badges_and_install_cells_are_in_sync_with_the_project_setting():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "notebooks.py"), "sync", "--check", *map(str, NOTEBOOKS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_lists_every_notebook_with_its_badge():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{path.name}" in readme


def test_pyproject_names_the_same_repository():
    assert PYPROJECT["project"]["urls"]["Repository"] == repository_url()


def test_environment_yml_lists_what_pyproject_lists():
    project = PYPROJECT["project"]
    wanted = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= {dep for dep in extra if not dep.startswith("solar-lab")}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert set(pip_section) == wanted
    python = next(item for item in environment["dependencies"] if isinstance(item, str) and item.startswith("python="))
    assert python == "python=3.11"


def colab_runtime_pins() -> dict[str, str]:
    lines = (ROOT / "tools" / "colab_runtime.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pins}


def test_pyproject_accepts_what_colab_ships():
    pins = colab_runtime_pins()
    assert pins["ipywidgets"] == "7.7.1"
    project = PYPROJECT["project"]
    requirements = [Requirement(dep) for dep in project["dependencies"]]
    # `dev` (test runner, JupyterLab) is for a local checkout; Colab installs the other extras.
    requirements += [Requirement(dep) for name, extra in project["optional-dependencies"].items()
                     if name != "dev" for dep in extra]
    checked = 0
    for requirement in requirements:
        version = pins.get(canonicalize_name(requirement.name))
        if version is not None:
            assert requirement.specifier.contains(version), f"{requirement} refuses Colab's {version}"
            checked += 1
    assert checked >= 8


def test_the_readme_module_map_names_modules_and_functions_that_exist():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Notebook section → module") : readme.index("## Quickstart")]
    rows = re.findall(r"^\| .+ \| (.+) \|$", table, re.MULTILINE)[2:]  # after the header and its rule
    assert len(rows) >= 15
    named = 0
    for row in rows:
        for module, inside in re.findall(r"`(\w+)`(?: \(([^)]*)\))?", row):
            imported = importlib.import_module(f"solar_lab.{module}")
            for name in re.findall(r"`(\w+)`", inside):
                if name != "configs":  # the folder of shipped configs
                    assert hasattr(imported, name), f"solar_lab.{module} has no {name}"
                    named += 1
    assert named >= 20
