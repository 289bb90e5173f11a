"""Read a site's own data from the forms ``fedkd site prepare`` accepts, as raw arrays.

Forms: an ``.npz`` with ``x`` and ``y`` (and ``teacher_x``), a CSV with a header row
and a label column, a folder of images (one subfolder per class), or two ``.npy``
files. Nothing here decides whether the arrays fit a dataset: that is
:mod:`fedkd.data.validation`'s job. Every error names the file and the bad value.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedkd.data.validation import DataError

Arrays = tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any] | None]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def read_npy(path: Path) -> npt.NDArray[Any]:
    """One plain array from a ``.npy`` file (no pickles)."""
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error})") from error
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise DataError(f"{path}: is an .npz archive, not a single .npy array")
    return loaded


def read_csv(path: Path, label_column: str) -> Arrays:
    """Features (every column but ``label_column``, in file order) and integer labels from a CSV."""
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable UTF-8 CSV file ({error})") from error
    if not rows:
        raise DataError(f"{path}: is empty; it needs a header row naming the columns")
    header = [name.strip() for name in rows[0]]
    if label_column not in header:
        raise DataError(f"{path}: has no label column {label_column!r} (columns: {', '.join(header)})")
    label_index = header.index(label_column)
    features, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        try:
            labels.append(int(row[label_index]))
        except ValueError:
            raise DataError(f"{path}: line {line} column {label_column!r} holds {row[label_index]!r}, "
                            "not an integer label") from None
        values = []
        for column, text in enumerate(row):
            if column == label_index:
                continue
            try:
                values.append(float(text))
            except ValueError:
                raise DataError(f"{path}: line {line} column {header[column]!r} holds {text!r}, "
                                "not a number") from None
        features.append(values)
    if not labels:
        raise DataError(f"{path}: has a header but no data rows")
    return np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64), None


def _class_index(folder: Path, names: list[str], num_classes: int) -> dict[str, int]:
    if all(name.isdigit() for name in names):
        return {name: int(name) for name in names}
    if len(names) != num_classes:
        raise DataError(
            f"{folder}: has {len(names)} class folders named {names}; class names map to indices in sorted "
            f"order, so all {num_classes} classes must be present (or name the folders 0..{num_classes - 1})"
        )
    return {name: index for index, name in enumerate(sorted(names))}


def _read_image(path: Path) -> npt.NDArray[Any]:
    if path.suffix == ".npy":
        return read_npy(path)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError(f"{path}: reading images needs Pillow, which is not installed; "
                        "save each image as .npy instead") from None
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from error


def read_image_folder(folder: Path, num_classes: int) -> tuple[Arrays, dict[str, int]]:
    """Images under ``folder/<class>/``, one subfolder per class index (``0``, ``1``...) or class name.

    Image files (PNG, JPEG, ...) are read with Pillow as grayscale scaled to
    ``[0, 1]``; ``.npy`` files are read as they are. Returns the arrays and the
    folder-name-to-label map.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: folder does not exist")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: holds no class subfolders")
    mapping = _class_index(folder, classes, num_classes)
    images, labels = [], []
    for name in classes:
        files = sorted(p for p in (folder / name).iterdir()
                       if p.is_file() and p.suffix.lower() in (".npy", *IMAGE_SUFFIXES))
        for file in files:
            image = _read_image(file)
            if images and image.shape != images[0].shape:
                raise DataError(f"{file}: has shape {image.shape}, earlier images have {images[0].shape}")
            images.append(image)
            labels.append(mapping[name])
    if not images:
        raise DataError(f"{folder}: its class folders hold no .npy or image files")
    return (np.stack(images), np.asarray(labels, dtype=np.int64), None), mapping
