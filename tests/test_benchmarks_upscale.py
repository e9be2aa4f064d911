"""benchmarks/upscale_vs_mergekit.py at tiny sizes: every tool runs, the ratios print, outputs agree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "upscale_vs_mergekit.py"
TINY = [
    *("--hidden", "64", "--intermediate", "128", "--layers", "4", "--heads", "4", "--kv-heads", "2"),
    *("--vocab", "128", "--drop", "1", "--source-shard-gb", "0.00005"),
]
"""A 4-layer checkpoint of 0.33 MB in 50 KB shards."""


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARK), *args],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not (Path(sys.executable).parent / "mergekit-yaml").is_file(),
    reason="mergekit-yaml is not installed next to this Python (pip install mergekit)",
)
def test_tiny_run_prints_every_ratio(tmp_path):
    result = run_benchmark(*TINY, "--workdir", str(tmp_path / "bench"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "wrote model-00002-of-" in result.stderr
    for tool in ("solar-lab upscale", "cp of our output", "mergekit-yaml", "mergekit-yaml 1B"):
        assert re.search(rf"^{re.escape(tool)} +\d+\.\d\d +\d+ +\d+\.\d{{3}}$", out, re.MULTILINE), tool
    assert re.search(
        r"^ours / cp of our output: wall \d+\.\d\dx \(goal <= 1\.2x\); "
        r"ours / checkpoint: peak RSS \d+\.\d{3}x \(goal <= 0\.05x\)$",
        out,
        re.MULTILINE,
    ), out
    for tool in ("mergekit-yaml", "mergekit-yaml 1B"):
        assert re.search(rf"^ours / {tool}: wall \d+\.\d\dx, peak RSS \d+\.\d\dx$", out, re.MULTILINE)
    assert "4 layers" in out and "m=1, 6 layers" in out
    assert out.rstrip().endswith("all outputs agree tensor for tensor: True")
    assert not (tmp_path / "bench").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layers", "0"], "'0' is not a positive whole number"),
        (["--drop", "2", "--layers", "4"], "m=2 is out of range"),
        (["--heads", "3"], "--heads must divide --hidden"),
        (["--source-shard-gb", "0"], "--source-shard-gb must be positive"),
    ],
)
def test_bad_arguments_fail_in_one_line(args, message):
    result = run_benchmark(*args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_a_workdir_with_files_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = run_benchmark("--workdir", str(tmp_path))
    assert result.returncode == 2 and "is not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
