"""The ``solar-lab`` command: one subcommand per job, one-line errors, non-zero exit on failure.

Building the parser imports no backend: each command imports what it needs when it runs,
so ``solar-lab upscale`` works without the ``[gguf]`` extra that ``export-gguf``,
``quantize`` and ``chat`` need, and without the ``[train]`` extra that ``cpt`` needs.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from solar_lab import checkpoint_upscale, cpt_commands, gguf_commands

EXTRAS = {"gguf": "gguf", "llama_cpp": "gguf", "datasets": "train"}
"""Modules of an optional extra -> the extra that installs them."""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line like every other error (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="solar-lab", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    checkpoint_upscale.register(subparsers)
    gguf_commands.register(subparsers)
    cpt_commands.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ModuleNotFoundError as error:
        module = (error.name or "").partition(".")[0]
        if module not in EXTRAS:
            raise
        message = f'{module} is not installed; this command needs: pip install "solar-lab[{EXTRAS[module]}]"'
    except (ValueError, OSError) as error:
        message = str(error)
    except KeyboardInterrupt:
        print(f"solar-lab {args.command}: interrupted; nothing was left half-written", file=sys.stderr)
        return 130
    print(f"solar-lab {args.command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
