"""Where the workbook lives: the one setting every badge and Colab install derives from."""

from __future__ import annotations

from pathlib import PurePosixPath

REPOSITORY = "solar-lab/solar-lab"
"""GitHub ``owner/name`` of the workbook. Change it here, then run ``make notebooks-sync``."""

BRANCH = "main"


def repository_url() -> str:
    """The repository's public web address."""
    return f"https://github.com/{REPOSITORY}"


def colab_url(notebook: str) -> str:
    """The address that opens ``notebook`` (a path inside the repository) in Colab."""
    path = PurePosixPath(notebook).as_posix()
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


def colab_badge(notebook: str) -> str:
    """Markdown for an "Open in Colab" badge that opens ``notebook``."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )


def install_spec(extras: tuple[str, ...] = ()) -> str:
    """The pip requirement that installs solar-lab (with ``extras``) from the repository."""
    name = f"solar-lab[{','.join(extras)}]" if extras else "solar-lab"
    return f"{name} @ git+{repository_url()}@{BRANCH}"
