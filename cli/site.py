"""``fedkd site prepare|check``: the site kit, one subcommand per module (:mod:`cli.site_prepare`,
:mod:`cli.site_check`)."""

from __future__ import annotations

import argparse

from cli import site_check, site_prepare

SUBCOMMANDS = {
    "prepare": (site_prepare, "Turn a site's data into validated train.npz and test.npz."),
    "check": (site_check, "Validate a site's data and teacher; print its flower-supernode command."),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One subparser per subcommand."""
    actions = parser.add_subparsers(dest="site_command", metavar="SUBCOMMAND", required=True)
    for name, (module, summary) in SUBCOMMANDS.items():
        sub = actions.add_parser(name, help=summary, description=summary)
        module.add_arguments(sub)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand."""
    code: int = SUBCOMMANDS[args.site_command][0].run(args)
    return code
