"""``fedkd evaluate --student FILE (--dataset NAME | --npz FILE)``: accuracy and confusion matrix of a saved student."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from cli.student_file import CommandError, load_student
from fedkd.data.arrays import ArrayDataset
from fedkd.data.registry import DATASETS, load_dataset
from fedkd.evaluation import accuracy_of, confusion_matrix, predict_logits
from fedkd.io import resolve_cache_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--student", type=Path, required=True, help="a run's student.safetensors")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=sorted(DATASETS), help="score on this dataset's test split")
    source.add_argument("--npz", type=Path, help="score on the arrays x (inputs) and y (integer labels) of this file")
    parser.add_argument("--data-dir", default="", help="where to look for dataset files first")
    parser.add_argument("--cache-dir", default="", help="dataset cache (default ~/.cache/fedkd)")


def read_npz(path: Path) -> ArrayDataset:
    """Inputs ``x`` and labels ``y`` of an ``.npz`` file.

    Raises
    ------
    CommandError
        If the file is missing, unreadable or lacks ``x`` or ``y``.
    """
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"x", "y"} - set(arrays.files)
            if missing:
                raise CommandError(f"--npz {path} lacks the array(s) {', '.join(sorted(missing))} (has {arrays.files})")
            return ArrayDataset(arrays["x"].astype(np.float32), arrays["y"].astype(np.int64))
    except (OSError, ValueError) as error:
        if isinstance(error, CommandError):
            raise
        raise CommandError(f"--npz {path}: {error}") from error


def format_confusion(matrix: torch.Tensor) -> str:
    """The matrix as aligned text, rows the true class, columns the predicted one."""
    n = matrix.shape[0]
    width = max(4, len(str(int(matrix.max()))) + 1)
    lines = ["true\\pred" + "".join(f"{c:>{width}}" for c in range(n))]
    lines += [f"{r:>9}" + "".join(f"{int(v):>{width}}" for v in matrix[r]) for r in range(n)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the student's accuracy, loss and confusion matrix; 2 on bad input."""
    try:
        model, input_shape, num_classes = load_student(args.student)
        if args.npz is not None:
            data, name = read_npz(args.npz), str(args.npz)
        else:
            data_dir = Path(args.data_dir) if args.data_dir else None
            splits = load_dataset(args.dataset, data_dir=data_dir, cache_dir=resolve_cache_dir(args.cache_dir))
            data, name = splits.test, f"{args.dataset} test split"
        if tuple(data.x.shape[1:]) != input_shape:
            raise CommandError(f"the student takes inputs of shape {list(input_shape)}, "
                               f"{name} holds {list(data.x.shape[1:])}")
        if len(data) == 0 or int(data.y.min()) < 0 or int(data.y.max()) >= num_classes:
            raise CommandError(f"{name}: labels must be in [0, {num_classes - 1}] and there must be at least one")
    except (CommandError, OSError, ImportError) as error:
        print(f"fedkd evaluate: error: {error}", file=sys.stderr)
        return 2
    logits = predict_logits(model, torch.from_numpy(data.x))
    labels = torch.from_numpy(data.y)
    stats = accuracy_of(logits, labels)
    print(f"accuracy {stats.accuracy:.4f} (loss {stats.loss:.4f}) on {stats.num_examples} examples of {name}")
    print(format_confusion(confusion_matrix(logits.argmax(dim=1), labels, num_classes)))
    return 0
