"""``fedkd site prepare``: turn a site's own data into validated ``train.npz`` and ``test.npz``.

The arrays are checked against the named dataset's spec (per-sample shape, numeric
inputs, finite values, integer labels in range) before anything is written; the
two files are then written atomically, so a failed run leaves no file behind and
an existing pair is never half-replaced.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from cli.site_sources import Arrays, read_csv, read_image_folder, read_npy
from fedkd.data.arrays import ArrayDataset
from fedkd.data.registry import DATASETS
from fedkd.data.site import SiteData, split_shard
from fedkd.data.validation import DataError, load_npz_arrays, validate_arrays
from fedkd.io import atomic_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's flags."""
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="the federation's dataset")
    parser.add_argument("--out", required=True, type=Path, help="the site's data folder to write")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--npz", type=Path, help="an .npz with arrays x and y (and teacher_x for bbc-news)")
    source.add_argument("--csv", type=Path, help="a CSV with a header row; give --label-column")
    source.add_argument("--images", type=Path, help="a folder with one subfolder of images (or .npy) per class")
    source.add_argument("--arrays", type=Path, nargs=2, metavar=("X.npy", "Y.npy"), help="inputs and labels")
    parser.add_argument("--label-column", default="", help="the CSV column holding integer labels")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share kept as the local test split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test shuffle")


def read_source(args: argparse.Namespace) -> tuple[Arrays, str]:
    """The raw arrays of the chosen source and a description of it."""
    spec = DATASETS[args.dataset]
    if args.npz is not None:
        return load_npz_arrays(args.npz), str(args.npz)
    if args.csv is not None:
        if not args.label_column:
            raise DataError("--csv needs --label-column naming the label column")
        x, y, _ = read_csv(args.csv, args.label_column)
        if x.ndim == 2 and x.shape[1] == int(np.prod(spec.input_shape)):
            x = x.reshape(len(x), *spec.input_shape)
        return (x, y, None), str(args.csv)
    if args.images is not None:
        arrays, mapping = read_image_folder(args.images, spec.num_classes)
        print(f"class folders -> labels: {mapping}")
        return arrays, str(args.images)
    x_path, y_path = args.arrays
    return (read_npy(x_path), read_npy(y_path), None), f"{x_path} and {y_path}"


def write_site(out: Path, site: SiteData) -> list[Path]:
    """Write ``train.npz`` and ``test.npz`` under ``out``; both appear together or neither changes."""
    paths = [out / "train.npz", out / "test.npz"]
    with ExitStack() as stack:
        for path, split in zip(paths, (site.train, site.test), strict=True):
            temporary = stack.enter_context(atomic_path(path))
            arrays = {"x": split.x, "y": split.y}
            if split.teacher_x is not None:
                arrays["teacher_x"] = split.teacher_x
            with open(temporary, "wb") as stream:
                np.savez(stream, **arrays)  # type: ignore[arg-type]
    return paths


def prepare(args: argparse.Namespace) -> SiteData:
    """Read, validate, split and write the site's data; return the splits."""
    if not 0.0 <= args.test_fraction < 1.0:
        raise DataError(f"--test-fraction={args.test_fraction} must be in [0, 1)")
    spec = DATASETS[args.dataset]
    (x, y, teacher_x), source = read_source(args)
    data: ArrayDataset = validate_arrays(x, y, spec, source=source, teacher_x=teacher_x)
    if len(data) < 2:
        raise DataError(f"{source}: holds {len(data)} samples; a site needs at least 2 (train and test)")
    site = split_shard(data, test_fraction=args.test_fraction, seed=args.seed, num_classes=spec.num_classes)
    write_site(args.out, site)
    return site


def run(args: argparse.Namespace) -> int:
    """Prepare the site and summarise what was written."""
    try:
        site = prepare(args)
    except DataError as error:
        print(f"fedkd site prepare: {error}", file=sys.stderr)
        return 1
    for name, split in (("train", site.train), ("test", site.test)):
        counts = np.bincount(split.y, minlength=site.num_classes).tolist()
        print(f"{args.out / (name + '.npz')}: {len(split)} samples, class counts {counts}")
    return 0
