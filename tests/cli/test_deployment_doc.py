"""docs/deployment.md's commands stay runnable: fedkd lines parse, Flower flags exist in the pinned Flower."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cli.main import build_parser
from tests.e2e.deployment_kit import BIN, doc_blocks, doc_commands, expand

VALUES = {name: f"/x/{name.lower()}" for name in (
    "SERVER_HOST", "PORT", "CERTS", "STATE", "NUM_SITES", "SITE", "CONNECTION", "DATASET", "SITE_NPZ", "SITE_DATA",
    "CA", "KEY", "TEACHER", "RUNTIME_PORT", "SERVER_TEST", "RESULTS", "RUN_NAME", "ROUNDS", "TEACHER_EPOCHS")}
VALUES.update({"PORT": "8000", "NUM_SITES": "3", "SITE": "1", "RUNTIME_PORT": "9094", "DATASET": "mnist1d",
               "SERVER_HOST": "10.0.0.5", "CONNECTION": "fedkd-deploy"})


def test_doc_fedkd_commands_parse_with_the_fedkd_parser() -> None:
    lines = doc_commands("fedkd")

    parsed = [build_parser().parse_args(shlex.split(expand(line, VALUES))[1:]) for line in lines]

    assert [p.command for p in parsed] == ["certs", "site", "site", "site"]
    assert [getattr(p, "site_command", None) for p in parsed] == [None, "prepare", "check", "check"]


@pytest.mark.parametrize("program", ["flower-superlink", "flower-supernode"])
def test_doc_flower_flags_exist_in_the_installed_flower(program: str) -> None:
    help_text = subprocess.run([str(BIN / program), "--help"], capture_output=True, text=True, timeout=120,
                               check=False).stdout
    flags = {word for line in doc_commands(program) for word in shlex.split(line) if word.startswith("--")}

    assert flags and not {flag for flag in flags if not re.search(rf"{re.escape(flag)}\b", help_text)}


def test_doc_connection_block_names_address_and_ca() -> None:
    import tomllib

    (block,) = doc_blocks("toml")

    connection = tomllib.loads(expand(block, VALUES))["superlink"]["fedkd-deploy"]

    assert connection == {"address": "10.0.0.5:8000", "root-certificates": "/x/certs/ca.crt"}


def test_doc_supernode_lines_are_what_site_check_prints() -> None:
    # The check's own formatting, fed the doc's variables, gives the doc's flower-supernode lines.
    from argparse import Namespace

    from cli.site_check import supernode_command

    plain, teacher = doc_commands("flower-supernode")
    args = Namespace(superlink="10.0.0.5:8000", root_certificates=Path("/x/ca"), auth_supernode_private_key=Path(
        "/x/key"), port=9094, data_dir=Path("/x/site_data"), teacher_checkpoint=None, teacher_architecture="")

    assert supernode_command(args) == expand(plain, VALUES)
    args.teacher_checkpoint, args.teacher_architecture = Path("/x/teacher"), "mlp"
    assert supernode_command(args) == expand(teacher, VALUES)
