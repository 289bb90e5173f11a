"""``fedkd site check``: validate a site before it joins, and print its ``flower-supernode`` command.

Checks the site's ``train.npz``/``test.npz`` (shapes, dtypes, finite values, label
range; class counts are reported) and, when given, its teacher checkpoint (it loads,
its weights are finite, its architecture fits the dataset) with its accuracy on the
local test split. Every problem is one line naming the file, key and value; any
problem makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from fedkd.checkpoint import CheckpointError, load_model, read_metadata
from fedkd.data.arrays import ArrayDataset
from fedkd.data.registry import DATASETS, DatasetSpec
from fedkd.data.validation import DataError, read_npz
from fedkd.evaluation import evaluate
from fedkd.models import build_model

UNSAFE = "'\" \t\n=$`\\"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's flags."""
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="the federation's dataset")
    parser.add_argument("--data-dir", required=True, type=Path, help="the site's folder with train.npz, test.npz")
    parser.add_argument("--teacher-checkpoint", type=Path, default=None, help="the site's teacher (safetensors)")
    parser.add_argument("--teacher-architecture", default="", help="the teacher's architecture (mlp, cnn1d, ...)")
    parser.add_argument("--superlink", default="127.0.0.1:8000",
                        help="the SuperLink address HOST:PORT (its --host and --port)")
    parser.add_argument("--root-certificates", type=Path, default=None, help="the federation's CA certificate")
    parser.add_argument("--auth-supernode-private-key", type=Path, default=None,
                        help="this site's SuperNode authentication key (OpenSSH EC private key)")
    parser.add_argument("--port", type=int, default=None,
                        help="the SuperNode's local Runtime API port, when several SuperNodes share a machine")


def check_teacher(path: Path, architecture: str, spec: DatasetSpec, test: ArrayDataset | None) -> list[str]:
    """Report lines for a teacher checkpoint; raise ``CheckpointError`` naming what is wrong."""
    model, name = load_model(path, architecture=architecture or None)
    metadata = read_metadata(path)
    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = tensor[~torch.isfinite(tensor)].flatten()[0].item()
            raise CheckpointError(f"{path}: tensor {key!r} holds a non-finite weight {bad}")
    needed = spec.teacher_input_shape or spec.input_shape
    shape = tuple(json.loads(metadata["input_shape"]))
    if shape != needed or int(metadata["num_classes"]) != spec.num_classes:
        raise CheckpointError(
            f"{path}: teacher {name!r} takes input_shape {shape} and num_classes {metadata['num_classes']}; "
            f"the dataset needs {needed} and {spec.num_classes}"
        )
    lines = [f"teacher {path}: {name}, {sum(t.numel() for t in model.state_dict().values())} weights, all finite"]
    if test is not None and len(test):
        stats = evaluate(model, test.teacher_view(), device=torch.device("cpu"))
        lines.append(f"teacher accuracy on the local test split: {stats.accuracy:.4f} ({stats.num_examples} samples)")
    return lines


def _node_config(args: argparse.Namespace) -> str:
    values = {"data-dir": str(args.data_dir.resolve())}
    if args.teacher_checkpoint is not None:
        values["teacher-checkpoint"] = str(args.teacher_checkpoint.resolve())
    if args.teacher_architecture:
        values["teacher-architecture"] = args.teacher_architecture
    for key, value in values.items():
        if any(c in value for c in UNSAFE):
            raise DataError(f"node-config {key}={value!r}: a --node-config value cannot hold quotes, spaces, "
                            "'=', '$', '`' or backslashes; move the file")
    return " ".join(f"{key}='{value}'" for key, value in values.items())


def supernode_command(args: argparse.Namespace) -> str:
    """The ``flower-supernode`` command line for this site, as a shell line."""
    command = ["flower-supernode", "--superlink", args.superlink]
    if args.root_certificates is not None:
        command += ["--root-certificates", str(args.root_certificates.resolve())]
    else:
        command += ["--insecure"]
    if args.auth_supernode_private_key is not None:
        command += ["--auth-supernode-private-key", str(args.auth_supernode_private_key.resolve())]
    if args.port is not None:
        command += ["--port", str(args.port)]
    return f'{shlex.join(command)} --node-config "{_node_config(args)}"'


def check_site(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Report lines and problem lines for the site named by ``args``."""
    spec = DATASETS[args.dataset]
    report, problems = [f"dataset {args.dataset}: inputs {spec.input_shape}, {spec.num_classes} classes"], []
    splits: dict[str, ArrayDataset] = {}
    for name in ("train", "test"):
        path = args.data_dir / f"{name}.npz"
        try:
            split = read_npz(path, spec, exact_dtypes=True)
        except DataError as error:
            problems.append(str(error))
            continue
        splits[name] = split
        counts = np.bincount(split.y, minlength=spec.num_classes).tolist()
        report.append(f"{path}: {len(split)} samples, x {split.x.dtype} {tuple(split.x.shape)}, "
                      f"class counts {counts}")
        if len(split) == 0:
            problems.append(f"{path}: 'y' holds 0 samples; the {name} split must not be empty")
    if args.teacher_checkpoint is not None:
        try:
            report += check_teacher(args.teacher_checkpoint, args.teacher_architecture, spec, splits.get("test"))
        except (CheckpointError, ValueError, KeyError) as error:
            problems.append(f"teacher checkpoint {error}")
    elif args.teacher_architecture:
        try:
            build_model(args.teacher_architecture, input_shape=spec.teacher_input_shape or spec.input_shape,
                        num_classes=spec.num_classes)
            report.append(f"teacher: trained here as {args.teacher_architecture!r} at the first round")
        except ValueError as error:
            problems.append(f"teacher-architecture {args.teacher_architecture!r}: {error}")
    for flag, path in (("--root-certificates", args.root_certificates),
                       ("--auth-supernode-private-key", args.auth_supernode_private_key)):
        if path is not None and not path.is_file():
            problems.append(f"{flag} {path}: file does not exist")
    return report, problems


def run(args: argparse.Namespace) -> int:
    """Print the report, then the problems (exit 1) or the command to start the SuperNode (exit 0)."""
    report, problems = check_site(args)
    for line in report:
        print(line)
    try:
        command = supernode_command(args)
    except DataError as error:
        problems.append(str(error))
    if problems:
        for line in problems:
            print(f"problem: {line}", file=sys.stderr)
        print(f"fedkd site check: {len(problems)} problem(s); fix them before joining", file=sys.stderr)
        return 1
    print("site ready; start it with:")
    print(command)
    return 0
