"""Benchmark: each distillation method's local round against CE-only training of the same student.

For MNIST-1D (``mlp`` student, ``cnn1d`` teacher) and Fashion-MNIST (``cnn-small``
from ``cnn-large``), times one site's local round (a one-tenth shard, the
experiment's local epochs) for every method, in the same process, and prints and
saves seconds and the ratio to CE-only (``bench/results/method_cost.json``).
Median of several repetitions. Teacher logits are precomputed, as at a real site;
feature methods run the teacher forward on every batch, mutual teachers train
the teacher too, so they cost more.

Run: ``python bench/method_cost.py [--datasets mnist1d fashion-mnist]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from fedkd.config import FedKDConfig, load_experiment  # noqa: E402
from fedkd.data.registry import load_dataset  # noqa: E402
from fedkd.data.site import split_shard  # noqa: E402
from fedkd.distill.hidden_labels import labelled_mask  # noqa: E402
from fedkd.distill.mutual import mutual_teacher_step  # noqa: E402
from fedkd.distill.schedules import RoundValues, round_values  # noqa: E402
from fedkd.distill.site_round import feature_teacher, logit_knowledge  # noqa: E402
from fedkd.distill.training import OptimizerSettings, distill  # noqa: E402
from fedkd.evaluation import predict_logits  # noqa: E402
from fedkd.io import resolve_cache_dir  # noqa: E402
from fedkd.models import build_model  # noqa: E402
from fedkd.teacher import Teacher, freeze  # noqa: E402
from simulations.method_catalog import HINTON_KD, METHODS  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "method_cost.json"
EXPERIMENTS = {"mnist1d": "mnist1d-dirichlet.yaml", "fashion-mnist": "fashion-mnist-dirichlet.yaml"}
# The catalog's methods whose cost is one site's local round (server-side and checkpoint rows are not).
BENCHED = ("CE-only FedAvg", "Hinton KD", "DKD", "not-true KD (FedNTD)", "trust gating (max-prob >= 0.5)",
           "FitNets hint", "RKD (distance + angle)", "similarity-preserving", "attention transfer",
           "KD, 90% labels hidden", "mutual teachers (FedKD)")
REPEATS = 3


def measure(dataset: str, cache: Path) -> dict[str, dict[str, float]]:
    """Seconds per local round of every applicable method, and the ratio to CE-only."""
    root = Path(__file__).resolve().parent.parent
    base = FedKDConfig.from_mapping(load_experiment(EXPERIMENTS[dataset], base_dir=root))
    splits = load_dataset(dataset, data_dir=None, cache_dir=cache)
    shard = splits.train.subset(torch.arange(len(splits.train) // 10).numpy())
    site = split_shard(shard, test_fraction=0.2, seed=0, num_classes=splits.num_classes)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = freeze(build_model(base.teacher, input_shape=splits.input_shape, num_classes=splits.num_classes))
    teacher = Teacher(model=model.to(device), architecture=base.teacher, source="trained", key="bench",
                      train_logits=predict_logits(model, torch.from_numpy(site.train.x).to(device)).cpu(),
                      test_logits=predict_logits(model, torch.from_numpy(site.test.x).to(device)).cpu())
    settings = OptimizerSettings(base.learning_rate, base.momentum, base.batch_size, base.local_epochs)
    figures: dict[str, dict[str, float]] = {}
    for method, overrides in ((name, METHODS[name]) for name in BENCHED):
        config = FedKDConfig.from_mapping({**HINTON_KD, **overrides}, base=base)
        values = round_values(config, 1)

        def local_round(config: FedKDConfig = config, values: RoundValues = values) -> None:
            student = build_model(config.student, input_shape=splits.input_shape, num_classes=splits.num_classes)
            current = teacher
            if config.teacher_mode == "mutual":
                current, _ = mutual_teacher_step(teacher, student, site, config, values, device=device, seed=0)
            features = feature_teacher(config, student, current, site, adapter_state=None, seed=0)
            distill(student, site.train, current.train_logits, objective=logit_knowledge(config, values),
                    settings=settings, device=device, seed=0,
                    labelled=labelled_mask(len(site.train), config.unlabeled_fraction, seed=0), features=features)

        try:
            times = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                local_round()
                times.append(time.perf_counter() - start)
        except ValueError as error:  # e.g. attention transfer without spatial student features
            print(f"{dataset:14s} {method:32s} n/a: {error}")
            continue
        figures[method] = {"seconds": statistics.median(times)}
    ce = figures["CE-only FedAvg"]["seconds"]
    for method, row in figures.items():
        row["ratio_to_ce"] = row["seconds"] / ce
        print(f"{dataset:14s} {method:32s} {row['seconds']:.3f} s  {row['ratio_to_ce']:.2f}x CE-only")
    return figures


def main() -> None:
    """Measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache = resolve_cache_dir()
    results = {"device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(),
               "repeats": REPEATS, "datasets": {d: measure(d, cache) for d in args.datasets}}
    save_figures(OUT, results)


if __name__ == "__main__":
    main()
