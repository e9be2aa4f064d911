"""The ``solar-lab`` command: one subcommand per job, one-line errors, non-zero exit on failure."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("solar_lab.checkpoint_upscale", "solar_lab.gguf_commands")
"""Modules that each define ``register(subparsers)``; a registered parser sets ``func``."""


class CommandError(Exception):
    """A failure the user can fix; the command prints its message on one line and exits 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="solar-lab", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (CommandError, ValueError, OSError) as error:
        print(f"solar-lab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"solar-lab {args.command}: interrupted; nothing was left half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
