"""Export a saved student so it runs without fedkd: TorchScript (plain torch) or ONNX (any ONNX runtime).

Every export is checked before it is kept: the exported file is loaded back (with
``torch.jit.load`` or ``onnxruntime``) and must give the original model's
predictions on random inputs; otherwise nothing is written.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fedkd.extras import require
from fedkd.io import atomic_path

FORMATS = ("torchscript", "onnx")
CHECK_SAMPLES = 64
TOLERANCE = 1e-4


class ExportError(ValueError):
    """The exported file does not reproduce the model."""


def _torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    traced = torch.jit.trace(model, example)  # type: ignore[no-untyped-call]
    traced.save(str(path))
    loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(loaded(torch.from_numpy(x)).numpy())

    return run


def _onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    require("onnx")
    import onnxruntime

    torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False,
                      external_data=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(["logits"], {"input": x})[0])

    return run


EXPORTERS = {"torchscript": _torchscript, "onnx": _onnx}


def export_model(model: nn.Module, *, input_shape: tuple[int, ...], path: Path, fmt: str, seed: int = 0) -> float:
    """Write ``model`` to ``path`` in ``fmt`` and check it; return the largest logit difference found.

    Raises
    ------
    ValueError
        For an unknown format.
    fedkd.extras.MissingExtra
        For ONNX without the ``onnx`` extra.
    ExportError
        If the exported file's predictions differ from the model's (nothing is written then).
    """
    if fmt not in EXPORTERS:
        raise ValueError(f"format {fmt!r} is not allowed: choose one of {', '.join(FORMATS)}")
    model = model.cpu().eval()
    x = np.random.default_rng(seed).standard_normal((CHECK_SAMPLES, *input_shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with atomic_path(path) as temporary, torch.no_grad(), warnings.catch_warnings():
        # torch.jit.trace and the exporter warn about their own deprecations; the export is checked below.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        run = EXPORTERS[fmt](model, torch.from_numpy(x[:2]), temporary)
        got = run(x)
        difference = float(np.max(np.abs(got - expected)))
        if got.shape != expected.shape or not np.array_equal(got.argmax(1), expected.argmax(1)) or (
            difference > TOLERANCE * max(1.0, float(np.max(np.abs(expected))))
        ):
            raise ExportError(f"the {fmt} export of the model differs from it (max logit difference {difference:.3g})")
    return difference


