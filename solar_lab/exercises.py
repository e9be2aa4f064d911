"""Self-checks for the notebooks' exercises: say right, wrong (with a hint) or not answered yet."""

from __future__ import annotations

from typing import Any


def check(name: str, answer: Any, expected: Any, hint: str = "") -> bool:
    """Compare a reader's ``answer`` with ``expected`` and print a one-line verdict.

    ``None`` means "not answered yet" and is not an error, so a notebook still runs top
    to bottom; the return value tells a solution cell whether the answer was right.
    """
    if answer is None:
        print(f"{name}: not answered yet — replace None with your answer.")
        return False
    if answer == expected:
        print(f"{name}: correct ✓")
        return True
    print(f"{name}: not quite ({answer!r}). {hint}".rstrip())
    return False
