"""The paper's Open LLM Leaderboard results (H6 and its six tasks)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

SOURCE = (
    "Kim et al., 'SOLAR 10.7B: Scaling Large Language Models with Simple yet Effective "
    "Depth Up-Scaling', arXiv:2312.15166, Table 2 (Open LLM Leaderboard, December 2023)"
)
TASKS = ("ARC", "HellaSwag", "MMLU", "TruthfulQA", "Winogrande", "GSM8K")


@dataclass(frozen=True)
class Result:
    """One model's row: its H6 average and, where the paper lists them, the six task scores."""

    model: str
    kind: str
    h6: float
    tasks: dict[str, float]


def h6_table() -> list[Result]:
    """The rows of the paper's Table 2, best H6 first."""
    text = resources.files("solar_lab.data").joinpath("h6_leaderboard.csv").read_text()
    rows = [
        Result(
            model=row["model"],
            kind=row["kind"],
            h6=float(row["H6"]),
            tasks={task: float(row[task]) for task in TASKS if row[task]},
        )
        for row in csv.DictReader(text.splitlines())
    ]
    return sorted(rows, key=lambda result: result.h6, reverse=True)
