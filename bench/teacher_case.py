"""Measurement: KD against CE-only when each site's teacher is a strong public-pool teacher fine-tuned on its shard.

The product's case for distillation: a teacher pretrained on a public pool (20,000
fresh MNIST-1D samples from the official generator with another seed, disjoint from
the federation's data: ``simulations/pretrain_teacher.py``), fine-tuned on the site's
shard at first use (``teacher-finetune-epochs``, cached). On MNIST-1D Dirichlet(0.5),
10 clients, 10 rounds, Hinton KD (kd-alpha 0.5, T 4), it runs per seed:

- KD from the fine-tuned pretrained teacher;
- KD from the same pretrained teacher, frozen (no fine-tuning), with ``--frozen``;

and reads the CE-only FedAvg and the KD-from-a-locally-trained-teacher runs of the
same seeds from the bytes page's sweep (``python -m pages.bytes_page``), running them
if missing. Prints a table and saves ``bench/results/teacher_case.json``.

Run: ``python bench/teacher_case.py [--seeds 0 1 2] [--finetune-epochs 5] [--frozen]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402
from simulations.method_catalog import HINTON_KD  # noqa: E402
from simulations.pretrain_teacher import main as pretrain  # noqa: E402
from simulations.reuse import run_or_reuse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "fedkd"  # the pages' cache (pages/paths.py), where the teachers already are
SWEEP = ROOT / "results" / "sweep"
PRETRAINED = CACHE / "pretrained" / "mnist1d-cnn1d-20000.safetensors"  # as pages/methods_page.py
ROUNDS, CLIENTS = 10, 10


def _base(seed: int) -> dict[str, Any]:
    return {**HINTON_KD, "experiment": "mnist1d-dirichlet.yaml", "cache-dir": str(CACHE),
            "num-server-rounds": ROUNDS, "seed": seed}


def variants(seed: int, finetune_epochs: int, frozen: bool) -> dict[str, dict[str, Any]]:
    """Run-config values per variant; the bytes page's run names for the rows it already runs."""
    out = {
        "CE-only FedAvg": {**_base(seed), "kd-alpha": 1.0, "output-dir": str(SWEEP / "bytes"),
                           "run-name": f"fedavg--small-model--mlp--ce-only-seed{seed}-r{ROUNDS}"},
        "KD, teacher trained on the shard": {**_base(seed), "output-dir": str(SWEEP / "bytes"),
                                             "run-name": f"fedkd-student--mlp--hinton-kd-seed{seed}-r{ROUNDS}"},
        f"KD, pretrained teacher fine-tuned {finetune_epochs} epochs": {
            **_base(seed), "teacher-checkpoint": str(PRETRAINED), "teacher-finetune-epochs": finetune_epochs,
            "output-dir": str(SWEEP / "teacher-case"), "run-name": f"kd-pretrained-ft{finetune_epochs}-seed{seed}"},
    }
    if frozen:
        out["KD, pretrained teacher frozen"] = {**_base(seed), "teacher-checkpoint": str(PRETRAINED),
                                                "output-dir": str(SWEEP / "teacher-case"),
                                                "run-name": f"kd-pretrained-frozen-seed{seed}"}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run (or reuse) every variant and seed; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--frozen", action="store_true", help="also run KD from the frozen pretrained teacher")
    args = parser.parse_args(argv)
    if not PRETRAINED.is_file():
        pretrain(["--dataset", "mnist1d", "--architecture", "cnn1d", "--out", str(PRETRAINED),
                  "--cache-dir", str(CACHE)])
    results: dict[str, dict[str, Any]] = {}
    for seed in args.seeds:
        for name, values in variants(seed, args.finetune_epochs, args.frozen).items():
            rounds = run_or_reuse(num_supernodes=CLIENTS, run_config=values)
            results.setdefault(name, {"config": {k: v for k, v in values.items() if k not in ("seed", "run-name")},
                                      "runs": {}})["runs"][str(seed)] = {
                "final_accuracy": rounds[-1]["global_accuracy"],
                "best_accuracy": max(r["global_accuracy"] for r in rounds),
                "teacher_accuracy_mean": rounds[-1].get("teacher_accuracy_mean")}
    for name, part in results.items():
        finals = [r["final_accuracy"] for r in part["runs"].values()]
        part["final_mean"] = statistics.fmean(finals)
        part["final_std"] = statistics.stdev(finals) if len(finals) > 1 else None
        teachers = [r["teacher_accuracy_mean"] for r in part["runs"].values() if r["teacher_accuracy_mean"] is not None]
        part["teacher_accuracy_mean"] = statistics.fmean(teachers) if teachers else None
        std = "" if part["final_std"] is None else f" ± {100 * part['final_std']:.1f}"
        print(f"{name}: final {100 * part['final_mean']:.1f}%{std} over seeds {sorted(part['runs'])}; "
              f"per seed {[round(100 * f, 1) for f in finals]}")
    save_figures(ROOT / "bench" / "results" / "teacher_case.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
