"""``fedkd <command> ...``: one console entry point whose subcommands live one per module.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; the
table below is the whole dispatch, so a command is found by its name.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Command name -> (module, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "certs": ("cli.certs", "Write a development CA, a SuperLink certificate and SuperNode key pairs."),
    "site": ("cli.site", "Prepare and check a site's data and teacher before it joins a federation."),
    "evaluate": ("cli.evaluate", "Score a saved student on a dataset's test split or an .npz file."),
    "export": ("cli.export", "Export a saved student to TorchScript or ONNX, checked to predict the same."),
    "compare": ("cli.compare", "Plot one metric of several runs against the round, one line per run."),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of every registered command."""
    parser = argparse.ArgumentParser(prog="fedkd", description="fedkd: federated knowledge distillation tools.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; its return value is the exit code."""
    args = build_parser().parse_args(argv)
    code: int = importlib.import_module(args.module).run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
