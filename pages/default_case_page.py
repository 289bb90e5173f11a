"""Generate ``docs/default-case.{json,md,png}``: the embedded default's student beside its CE-only baseline.

What the main job (``python -m simulations.run``) prints at its end, over seeds 0, 1, 2:
the global student of the embedded default (every key at its default: MNIST-1D,
Dirichlet(0.5), 10 clients, each site's teacher pretrained on a public pool and
fine-tuned on its shard), the CE-only FedAvg student of the same config (distillation
off, :func:`simulations.comparison.ce_only_values`) and the mean of the sites' teachers,
all on the server's test set. Runs finished for the identical config are reused, the
CE-only ones from the same folders the harness's ``--baseline`` uses.

Run: ``python -m pages.default_case_page [--seeds 0 1 2] [--reuse-only]``.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import statistics
import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from fedkd.config import FedKDConfig
from fedkd.io import write_atomic
from fedkd.pretraining import cached_pretrained, pretrain_recipe
from pages.paths import CACHE, DOCS, SWEEP
from simulations.comparison import ce_only_values, final_accuracy, mean_teacher_accuracy
from simulations.flower_run import resolved_config
from simulations.reuse import ce_only_baseline, finished_run, run_or_reuse

CLIENTS = 10
NAME = "default-case"
KD, CE, TEACHER = "fedkd global student", "CE-only FedAvg student", "mean local teacher"


def run_values(seed: int) -> dict[str, Any]:
    """The main job's config for ``seed``: every key at its default but where files go."""
    return {"seed": seed, "cache-dir": str(CACHE), "output-dir": str(SWEEP / NAME), "run-name": f"kd-seed{seed}"}


def measure_seed(seed: int, reuse_only: bool) -> dict[str, Any] | None:
    """KD, CE-only and the teachers for one seed, or ``None`` when ``reuse_only`` finds a run missing."""
    values = run_values(seed)
    config = resolved_config(values)
    if reuse_only:
        kd = finished_run(values)
        ce = finished_run(ce_only_values(config, CLIENTS))
        if kd is None or ce is None:
            return None
    else:
        kd = run_or_reuse(num_supernodes=CLIENTS, run_config=values)
        ce, _ = ce_only_baseline(config, num_supernodes=CLIENTS)
    return {KD: final_accuracy(kd), CE: final_accuracy(ce), TEACHER: mean_teacher_accuracy(config, CLIENTS),
            "curves": {KD: [r["global_accuracy"] for r in kd], CE: [r["global_accuracy"] for r in ce]}}


def summarise(runs: dict[int, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and standard deviation over seeds of each row's final accuracy."""
    out: dict[str, dict[str, float | None]] = {}
    for row in (KD, CE, TEACHER):
        values = [float(run[row]) for run in runs.values()]
        out[row] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None}
    return out


def measure(seeds: Sequence[int], reuse_only: bool) -> dict[str, Any]:
    """Every seed's three numbers, their summary, and the public-pool teacher's own test accuracy."""
    runs = {seed: run for seed in seeds if (run := measure_seed(seed, reuse_only)) is not None}
    config = FedKDConfig.from_mapping({"cache-dir": str(CACHE)})
    recipe = pretrain_recipe(config)
    pretrained = cached_pretrained(recipe, CACHE) if recipe is not None else None
    defaults = FedKDConfig()
    return {"clients": CLIENTS, "rounds": defaults.num_server_rounds, "seeds": sorted(runs),
            "runs": {str(seed): run for seed, run in runs.items()},
            "summary": summarise(runs) if runs else {},
            "public_pool_teacher_test_accuracy": None if pretrained is None else pretrained.get("test_accuracy"),
            "teacher_finetune_epochs": defaults.teacher_finetune_epochs,
            "teacher_pretrain_samples": defaults.teacher_pretrain_samples}


def _pct(value: float | None, std: float | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" + ("" if std is None else f" ± {100 * std:.1f}")


def plot(data: dict[str, Any]) -> bytes:
    """PNG: mean global accuracy per round of KD and CE-only, the teachers' mean as a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    runs = list(data["runs"].values())
    for row, style in ((KD, "o-"), (CE, "s--")):
        curves = [run["curves"][row] for run in runs]
        mean = [statistics.fmean(values) for values in zip(*curves, strict=True)]
        axes.plot(range(len(mean)), mean, style, markersize=3,
                  label=f"{row}: {_pct(data['summary'][row]['mean'])} at the end")
    teacher = data["summary"][TEACHER]["mean"]
    axes.axhline(teacher, color="grey", linestyle=":", label=f"{TEACHER} (server test set): {_pct(teacher)}")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("round")
    axes.set_ylabel(f"global test accuracy (mean of {len(runs)} seeds)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title(f"fedkd's default: MNIST-1D, Dirichlet(0.5), {data['clients']} clients, "
                   f"{data['rounds']} rounds", fontsize=9)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def render(data: dict[str, Any], seconds: float, command: str) -> str:
    """The markdown page."""
    summary = data["summary"]
    rows = [f"| {row} | {_pct(summary[row]['mean'], summary[row]['std'])} | "
            + " | ".join(_pct(data["runs"][str(seed)][row]) for seed in data["seeds"]) + " |"
            for row in (KD, CE, TEACHER)]
    return "\n".join([
        "# fedkd's default case: the student beside its baseline",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()} in {seconds / 60:.0f} minutes on "
        f"{os.cpu_count()} CPU cores, torch {version('torch')}, flwr {version('flwr')}. "
        f"`docs/{NAME}.json` holds every number, per seed and per round.",
        "",
        f"The main job, `python -m simulations.run`, with every key at its default: MNIST-1D, Dirichlet(0.5) over "
        f"{data['clients']} clients, {data['rounds']} rounds, an MLP student distilled (kd-alpha 0.5, T 8 -> 2) "
        "from each site's private cnn1d teacher. Each teacher starts from one pretrained on a public pool of "
        f"{data['teacher_pretrain_samples']} fresh MNIST-1D samples (the official generator with seed 20200; the "
        "federation's train and test data are the official seed-42 samples, so the pool is disjoint from them), "
        f"which reaches {_pct(data['public_pool_teacher_test_accuracy'])} on the test set alone, and is then "
        f"fine-tuned on the site's private shard for {data['teacher_finetune_epochs']} epochs. The CE-only FedAvg "
        "student is the same config with distillation off (kd-alpha 1), the run the harness makes and caches for "
        "its last line; the mean local teacher is each site's own fine-tuned teacher on the same test set. "
        "Final round, mean ± standard deviation over seeds:",
        "",
        "| | mean | " + " | ".join(f"seed {seed}" for seed in data["seeds"]) + " |",
        "|---|---|" + "---|" * len(data["seeds"]),
        *rows,
        "",
        f"![the default's global student against CE-only FedAvg]({NAME}.png)",
        "",
        "The previous default, a teacher trained only on the site's shard, is the experiment "
        "`local-shard-teacher.yaml`; [`methods.md`](methods.md) measures it and the other methods.",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    """Run (or reuse) every seed and write the page, its JSON and its plot."""
    parser = argparse.ArgumentParser(description="Generate docs/default-case.md from real runs.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--reuse-only", action="store_true", help="run nothing: use the finished runs only")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = measure(args.seeds, args.reuse_only)
    if not data["runs"]:
        raise SystemExit(f"no finished runs to build docs/{NAME}.md from")
    command = "python -m pages.default_case_page" + (
        "" if args.seeds == [0, 1, 2] else " --seeds " + " ".join(str(s) for s in args.seeds))
    command += " --reuse-only" if args.reuse_only else ""
    write_atomic(DOCS / f"{NAME}.json", json.dumps(data, indent=1).encode())
    write_atomic(DOCS / f"{NAME}.png", plot(data))
    write_atomic(DOCS / f"{NAME}.md", render(data, time.perf_counter() - start, command).encode())
    print(f"wrote {DOCS / (NAME + '.md')}: " + ", ".join(
        f"{row} {_pct(data['summary'][row]['mean'])}" for row in (KD, CE, TEACHER)))


if __name__ == "__main__":
    main()

