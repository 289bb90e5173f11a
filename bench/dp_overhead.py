"""Benchmark: the cost of DP-SGD over plain training of the same student on the same site.

For each dataset's default student and each Opacus per-sample-gradient mode, times
one site's local round (local-epochs epochs over its train split) with DP-SGD and
without, in the same process, and prints and saves the ratio
(``bench/results/dp_overhead.json``). Median of several repetitions.

Run: ``python bench/dp_overhead.py``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from fedkd.config import FedKDConfig  # noqa: E402
from fedkd.data.registry import load_dataset  # noqa: E402
from fedkd.data.site import split_shard  # noqa: E402
from fedkd.distill.objective import LogitKnowledge  # noqa: E402
from fedkd.distill.training import OptimizerSettings, distill  # noqa: E402
from fedkd.io import resolve_cache_dir  # noqa: E402
from fedkd.models import build_model  # noqa: E402
from fedkd.privacy.dp_settings import GRAD_SAMPLE_MODES, DPSettings  # noqa: E402
from fedkd.privacy.dp_sgd import dp_distill  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "dp_overhead.json"
SETTINGS = {"mnist1d": {"student": "mlp"}, "fashion-mnist": {"student": "cnn-small", "teacher": "cnn-large"}}
REPEATS = 3


def _time(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def measure(dataset: str, overrides: dict[str, str], cache: Path) -> dict[str, float]:
    """Seconds per local round, plain and per DP mode, for a one-tenth site of ``dataset``."""
    config = FedKDConfig.from_mapping({"dataset": dataset, **overrides})
    splits = load_dataset(dataset, data_dir=None, cache_dir=cache)
    shard = splits.train.subset(torch.arange(len(splits.train) // 10).numpy())
    site = split_shard(shard, test_fraction=0.2, seed=0, num_classes=splits.num_classes)
    settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    logits = torch.randn(len(site.train), splits.num_classes)

    def student() -> torch.nn.Module:
        return build_model(config.student, input_shape=splits.input_shape, num_classes=splits.num_classes)

    figures = {"plain_seconds": statistics.median(
        _time(lambda: distill(student(), site.train, logits, settings=settings,
                              objective=LogitKnowledge(alpha=0.5, temperature=4.0),
                              device=device, seed=0)) for _ in range(REPEATS))}
    for mode in GRAD_SAMPLE_MODES:
        seconds = statistics.median(
            _time(lambda mode=mode: dp_distill(student(), site.train, logits, settings=settings,
                                               dp=DPSettings(1.0, 1.0, mode),
                                               objective=LogitKnowledge(alpha=0.5, temperature=4.0),
                                               device=device, seed=0)) for _ in range(REPEATS))
        figures[f"dp_{mode}_seconds"] = seconds
        figures[f"ratio_dp_{mode}_over_plain"] = seconds / figures["plain_seconds"]
    return figures


def main() -> None:
    """Measure every dataset and print and save the figures."""
    cache = resolve_cache_dir()
    results = {"device": "cuda" if torch.cuda.is_available() else "cpu", "torch": torch.__version__,
               "threads": torch.get_num_threads()}
    for dataset, overrides in SETTINGS.items():
        results[dataset] = measure(dataset, overrides, cache)
        print(dataset, json.dumps(results[dataset], indent=1))
    save_figures(OUT, results)


if __name__ == "__main__":
    main()
