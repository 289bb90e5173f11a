"""Benchmark: what refusing a hostile file costs a site, in time and memory.

Three files that used to be read (or allocated) whole: an ``.npz`` of 1 MB that
expands to 1 GB, ``/dev/zero`` named as the teacher checkpoint, and a checkpoint
whose metadata asks for a 4 TB model. Each is refused; the time of the refusal and
the growth of the process's peak resident memory are printed and saved
(``bench/results/refusal_cost.json``).

Run: ``python bench/refusal_cost.py``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from fedkd.checkpoint import load_model  # noqa: E402
from fedkd.data.site import load_site_dir  # noqa: E402
from fedkd.models import build_model  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "refusal_cost.json"
ROWS = 250_000  # 250,000 x 1,000 float32 = 1 GB of zeros


def _zip_bomb(folder: Path) -> Path:
    """A train.npz whose ``x`` expands to 1 GB (written row block by row block, never held whole)."""
    path = folder / "train.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            npy_format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (ROWS, 1000)})
            block = np.zeros((10_000, 1000), dtype=np.float32).tobytes()
            for _ in range(ROWS // 10_000):
                member.write(block)
        with archive.open("y.npy", "w") as member:
            npy_format.write_array(member, np.zeros(ROWS, dtype=np.int64))
    np.savez(folder / "test.npz", x=np.zeros((1, 1000), np.float32), y=np.zeros(1, np.int64))
    return path


def _huge_metadata(folder: Path) -> Path:
    path = folder / "huge.safetensors"
    tensors = {k: v.contiguous() for k, v in build_model("mlp", input_shape=(40,), num_classes=10).state_dict().items()}
    save_file(tensors, path, metadata={"architecture": "mlp", "input_shape": "[100000, 100000]", "num_classes": "10"})
    return path


def _measure(refuse: Callable[[], object], folder: Path) -> dict[str, object]:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        refuse()
        message = "accepted"
    except ValueError as error:
        message = str(error).replace(str(folder), "<dir>")
    seconds = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    return {"seconds": seconds, "peak_rss_growth_mb": grown / 1024, "message": message}


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        bomb = _zip_bomb(folder)
        huge = _huge_metadata(folder)
        results = {
            "npz_file_mb": bomb.stat().st_size / 1e6,
            "npz expanding to 1 GB, max-data-bytes 256 MiB": _measure(lambda: load_site_dir(
                folder, input_shape=(1000,), num_classes=10, max_bytes=256 * 1024**2), folder),
            "teacher-checkpoint=/dev/zero": _measure(lambda: load_model(Path("/dev/zero")), folder),
            "checkpoint metadata input_shape [100000, 100000]": _measure(lambda: load_model(huge), folder),
        }
    save_figures(OUT, results, show=True)


if __name__ == "__main__":
    main()
