"""Every script in tools/ and benchmarks/ runs with tiny arguments and does its job, so none rots unseen.

Each runs as a subprocess, the way the README calls it, writing only under ``tmp_path``.
tools/notebooks.py, site.py and student.py have their own tests (test_notebook_outputs,
test_site, test_student), as has benchmarks/upscale_vs_mergekit.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _tools import load_tool
from solar_lab import toy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "solar_lab" / "data"
WRITTEN_BY_DEFAULT = (DATA, *(toy.checkpoint_path(stage) for stage in toy.STAGES))
"""The folders these scripts write when run without --out or --data."""


def run_script(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """``script`` (a path inside the repository) run by this Python, offline, from ``cwd``."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300,
    )


@pytest.fixture(autouse=True)
def repository_untouched():
    """Fails a test whose script changed a file in a folder the scripts write by default."""
    def snapshot() -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for folder in WRITTEN_BY_DEFAULT for path in folder.iterdir()
                if path.is_file()}

    before = snapshot()
    yield
    assert snapshot() == before


@pytest.mark.slow
def test_make_toy_models_builds_every_run_ships_the_first_seed_and_resumes(tmp_path):
    arguments = ["--people", "300", "--base-steps", "2", "--cpt-steps", "2", "--probe-documents", "30",
                 "--seeds", "0", "1", "--out", tmp_path / "out", "--work", tmp_path / "work"]
    result = run_script("tools/make_toy_models.py", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shipped = {stage: toy.checkpoint_path(stage) for stage in ("toy-base", "toy-solar-base")}
    for stage, folder in shipped.items():
        out = tmp_path / "out" / "assets" / stage
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in folder.iterdir())
        config = json.loads((out / "config.json").read_text())
        assert config["num_hidden_layers"] == json.loads((folder / "config.json").read_text())["num_hidden_layers"]
    result_file = json.loads((tmp_path / "out" / "data" / "dus_seeds.json").read_text())
    assert result_file["recipe"]["people"] == 300 and result_file["recipe"]["seeds"] == [0, 1]
    runs = result_file["seeds"]
    assert set(runs["1"]) == {"base", "up-scaled", "further"}  # the other arms run for the first seed only
    assert set(runs["0"]) == {"base", *load_tool("make_toy_models").dus_experiment.ARMS}
    assert all(curve["steps"][0] == 0 and len(curve["accuracy"]) == len(curve["steps"]) for curve in runs["0"].values())
    assert runs["0"]["further 1.5x"]["steps"][-1] == 3 and runs["0"]["scratch, compute-matched"]["steps"][-1] == 3
    # a second build finds every run done and rewrites the same result
    again = run_script("tools/make_toy_models.py", *arguments, cwd=tmp_path)
    assert again.returncode == 0 and "10 runs, 10 already done" in again.stdout
    assert json.loads((tmp_path / "out" / "data" / "dus_seeds.json").read_text())["seeds"] == runs


@pytest.mark.slow  # starts the tool in a fresh Python: several seconds
def test_make_toy_models_refuses_bad_sizes(tmp_path):
    result = run_script("tools/make_toy_models.py", "--base-steps", "0", cwd=tmp_path)
    assert result.returncode == 2 and "must be at least 1" in result.stderr.splitlines()[-1]


@pytest.mark.slow
def test_make_lineage_trains_every_stage_measures_them_and_ships_the_average(tmp_path):
    result = run_script("tools/make_lineage.py", "--sft-steps", "2", "--dpo-steps", "2", "--out", tmp_path / "out",
                        "--work", tmp_path / "work", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shipped = tmp_path / "out" / "assets" / "toy-solar-instruct"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in toy.checkpoint_path("toy-solar-base").iterdir())
    lineage = json.loads((tmp_path / "out" / "data" / "lineage.json").read_text())
    stages = load_tool("make_lineage").STAGES
    assert list(lineage["stages"]) == list(stages) and lineage["recipe"]["sft_steps"] == 2
    for stage in lineage["stages"].values():
        assert set(stage["chat"]) == set(load_tool("make_lineage").instruct_data.KINDS)
        assert 0 <= stage["extraction_rate"] <= 1 and set(stage["h6"]) == {"H6", *load_tool("make_lineage").h6_toy.COLUMNS}
    assert set(lineage["toy-solar-instruct Q4_K_M"]["h6"]) == set(lineage["stages"]["sft"]["h6"])
    assert sorted(p.name for p in (tmp_path / "work").iterdir() if p.is_dir()) == sorted(stages[3:])


@pytest.mark.slow
@pytest.mark.parametrize("script", ["tools/make_alignment_data.py", "tools/make_eval_tasks.py"])
def test_data_scripts_regenerate_the_shipped_files_and_catch_a_stale_one(tmp_path, script):
    result = run_script(script, "--data", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = dict(line.rsplit(": ", 1) for line in result.stdout.splitlines())
    assert len(written) >= 4
    for path, rows in written.items():
        fresh = Path(path)
        assert fresh.parent == tmp_path and rows == f"{len(fresh.read_text().splitlines())} rows"
        assert fresh.read_bytes() == (DATA / fresh.name).read_bytes(), f"{fresh.name} differs from the shipped file"
    stale = Path(next(iter(written)))
    stale.write_text(stale.read_text() + "\n")
    check = run_script(script, "--check", "--data", tmp_path, cwd=tmp_path)
    assert check.returncode == 1
    assert check.stdout == f"{stale.name}: differs from a fresh regeneration; run {script}\n"


def test_colab_sim_names_a_missing_argument(tmp_path):
    result = run_script("tools/colab_sim.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "colab_sim.py: error: the following arguments are required: paths"


def test_colab_sim_layers_a_notebook_environment_on_the_shared_base(tmp_path):
    colab_sim = load_tool("colab_sim")
    base = tmp_path / "base"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base)], check=True)
    (colab_sim.site_packages(base) / "in_the_base.py").write_text("WHERE = 'base'\n")
    python = colab_sim.make_env(base, tmp_path / "notebook")
    seen = subprocess.run([str(python), "-c", "import in_the_base, sys; print(in_the_base.WHERE, sys.prefix)"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert seen == ["base", str(tmp_path / "notebook")]  # sees the base's packages, installs into itself


@pytest.mark.slow  # starts the tool in a fresh Python: several seconds
def test_tokens_per_second_times_every_engine(tmp_path):
    result = run_script("benchmarks/tokens_per_second.py", "--tokens", "4", "--repeats", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"toy-base: \d+ prompt tokens \+ 4 generated, 1 thread\(s\), best of 1", lines[0])
    rates = {match[1].strip(): (float(match[2]), float(match[3]))
             for match in (re.fullmatch(r"(.{20})\s*([\d.]+)\s+([\d.]+)x", line) for line in lines[2:])}
    assert list(rates) == ["transformers F32", "llama.cpp F32", "llama.cpp Q8_0", "llama.cpp Q4_K_M"]
    assert rates["transformers F32"][1] == 1.0 and all(rate > 0 for rate, _ in rates.values())
