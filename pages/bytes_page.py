"""Generate ``docs/bytes.md``, ``docs/bytes.json`` and ``docs/bytes.png``: accuracy against bytes on the wire.

On MNIST-1D, Dirichlet(0.5) over 10 clients, 10 rounds, this runs through Flower:

- FedAvg of the teacher's architecture (the model users would otherwise federate; CE only, no distillation);
- FedAvg of the student's architecture (CE only);
- the fedkd student (Hinton KD from each site's private teacher);
- the fedkd student with compressed updates (``update-compression``: int8, top-k, ...).

Bytes are the payloads the server's metered grid counted in each direction
(``server/metered_grid.py``), train and evaluate messages alike. Runs whose results
exist for the identical config are reused; seeds are added one at a time
(``--seeds 0 1 2``), and the page says how many seeds each row has.

Run: ``python -m pages.bytes_page [--seeds 0 1 2] [--reuse-only]``.
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

from fedkd.io import write_atomic
from fedkd.student import build_student
from pages.paths import CACHE, DOCS, SWEEP
from simulations.flower_run import resolved_config
from simulations.method_catalog import HINTON_KD
from simulations.reuse import finished_run, run_or_reuse

CLIENTS = 10
ROUNDS = 10
EXPERIMENT = "mnist1d-dirichlet.yaml"
MB = 1e6
BIG = "FedAvg, teacher's architecture (cnn1d, CE only)"
SMALL = "FedAvg, student architecture (mlp, CE only)"
# Each row: its run-name stem and the run-config values that differ from Hinton KD on the experiment file.
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    BIG: ("fedavg--big-model--cnn1d--ce-only", {"student": "cnn1d", "kd-alpha": 1.0}),
    SMALL: ("fedavg--small-model--mlp--ce-only", {"kd-alpha": 1.0}),
    "fedkd student (mlp, Hinton KD)": ("fedkd-student--mlp--hinton-kd", {}),
    "fedkd student, int8 updates": ("fedkd-student--int8-updates", {"update-compression": "int8"}),
    "fedkd student, top-10% updates (error feedback)": (
        "fedkd-student--top-10--updates--error-feedback",
        {"update-compression": "topk", "compression-topk-fraction": 0.1}),
    "fedkd student, rank-4 updates (SVD)": ("fedkd-student--rank-4-updates--svd",
                                            {"update-compression": "lowrank", "compression-rank": 4}),
}


def run_values(row: str, seed: int) -> dict[str, Any]:
    """Run-config values of one row and seed; the run name says which."""
    stem, overrides = ROWS[row]
    return {**HINTON_KD, "experiment": EXPERIMENT, "cache-dir": str(CACHE), "output-dir": str(SWEEP / "bytes"),
            "num-server-rounds": ROUNDS, "seed": seed, **overrides, "run-name": f"{stem}-seed{seed}-r{ROUNDS}"}


def run_summary(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Final and best accuracy, and cumulative MB per round, of one run."""
    sent = received = 0
    curve = []
    for record in rounds:
        sent += int(record.get("bytes_sent", 0))
        received += int(record.get("bytes_received", 0))
        curve.append([(sent + received) / MB, float(record["global_accuracy"])])
    return {"final_accuracy": float(rounds[-1]["global_accuracy"]),
            "best_accuracy": max(float(r["global_accuracy"]) for r in rounds),
            "mb_sent": sent / MB, "mb_received": received / MB, "curve": curve}


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def row_summary(runs: dict[int, dict[str, Any]], parameters: int) -> dict[str, Any]:
    """Means over the seeds of one row, its per-round mean curve and its seeds."""
    finals = [r["final_accuracy"] for r in runs.values()]
    curves = [r["curve"] for r in runs.values()]
    mean_curve = [[_mean([c[i][0] for c in curves]), _mean([c[i][1] for c in curves])] for i in range(len(curves[0]))]
    return {
        "seeds": sorted(runs),
        "parameters": parameters,
        "final_accuracy": _mean(finals),
        "final_accuracy_std": statistics.stdev(finals) if len(finals) > 1 else None,
        "best_accuracy": _mean([r["best_accuracy"] for r in runs.values()]),
        "mb_sent": _mean([r["mb_sent"] for r in runs.values()]),
        "mb_received": _mean([r["mb_received"] for r in runs.values()]),
        "curve": mean_curve,
        "runs": {str(seed): run for seed, run in sorted(runs.items())},
    }


def mb_to_reach(curve: Sequence[Sequence[float]], accuracy: float) -> float | None:
    """Cumulative MB at the first round whose (mean) accuracy reaches ``accuracy``; ``None`` if none does."""
    return next((mb for mb, acc in curve if acc >= accuracy), None)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_lines(data: dict[str, Any]) -> list[str]:
    """The accuracy-per-byte table."""
    rows = data["rows"]
    target = rows[SMALL]["final_accuracy"] if SMALL in rows else None
    out = ["| row | seeds | student parameters | final accuracy | best accuracy | MB sent | MB received | "
           "MB total | MB to reach the student-architecture FedAvg's final accuracy |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        std = row["final_accuracy_std"]
        final = f"{100 * row['final_accuracy']:.1f}%" + (f" ± {100 * std:.1f}" if std is not None else "")
        reach = mb_to_reach(row["curve"], target) if target is not None else None
        out.append(f"| {name} | {len(row['seeds'])} | {row['parameters']:,} | {final} | "
                   f"{100 * row['best_accuracy']:.1f}% | {_fmt(row['mb_sent'])} | {_fmt(row['mb_received'])} | "
                   f"{_fmt(row['mb_sent'] + row['mb_received'])} | {_fmt(reach)} |")
    return out


def plot(data: dict[str, Any]) -> bytes:
    """PNG of mean accuracy against cumulative MB (sent + received), one line per row."""
    # The object API on an Agg canvas (no pyplot, no global backend state), as fedkd.results.plot_accuracy.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, row in data["rows"].items():
        xs, ys = zip(*row["curve"][1:], strict=True)  # round 0 is at 0 MB: off a log axis
        seeds = len(row["seeds"])
        axes.plot(xs, ys, "o-", markersize=3, label=f"{name} ({seeds} seed{'' if seeds == 1 else 's'})")
    axes.set_xscale("log")
    axes.set_xlabel("cumulative MB on the wire (sent + received)")
    axes.set_ylabel("global test accuracy (mean over seeds)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    axes.set_title(f"MNIST-1D, Dirichlet(0.5), {CLIENTS} clients, {ROUNDS} rounds", fontsize=9)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def render(data: dict[str, Any], seconds: float, command: str) -> str:
    """The markdown page."""
    seeds = sorted({len(row["seeds"]) for row in data["rows"].values()})
    return "\n".join([
        "# fedkd: accuracy per byte",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()} in {seconds / 60:.0f} minutes on "
        f"{os.cpu_count()} CPU cores, torch {version('torch')}, flwr {version('flwr')}. `docs/bytes.json` holds "
        "every number, per seed and per round.",
        "",
        f"MNIST-1D (`simulations/experiments/{EXPERIMENT}`), Dirichlet(0.5) over {CLIENTS} clients, {ROUNDS} rounds, "
        "every client trains every round, federated evaluation every round. The KD rows distill from each site's "
        "private cnn1d teacher (kd-alpha 0.5, T 4); the teacher-architecture row is FedAvg of the teacher's "
        "architecture with CE only (student=cnn1d, kd-alpha=1), with the student's optimiser settings. On "
        "MNIST-1D the teacher's cnn1d has fewer parameters than the mlp student (see the table): the teacher is "
        "the stronger model by its convolutions, not by its size. Bytes are the payloads "
        "the server counted (`server/metered_grid.py`): arrays and config/metric records of every train and "
        "evaluate message, down (sent) and up (received). Compression (`update-compression`) encodes each "
        "site's update (received global minus trained) on the way up only; the global model goes down in "
        f"float32. Seeds per row: {', '.join(str(s) for s in seeds)} (the table's `seeds` column); the ± is the "
        "standard deviation over seeds.",
        "",
        *table_lines(data),
        "",
        "![accuracy against cumulative MB](bytes.png)",
        "",
    ])


def measure(seeds: Sequence[int], reuse_only: bool) -> dict[str, Any]:
    """Every row over ``seeds``, seed by seed (all rows of a seed before the next seed)."""
    found: dict[str, dict[int, dict[str, Any]]] = {row: {} for row in ROWS}
    for seed in seeds:
        for row in ROWS:
            values = run_values(row, seed)
            rounds = finished_run(values) if reuse_only else run_or_reuse(num_supernodes=CLIENTS,
                                                                          run_config=values)
            if rounds is not None:
                found[row][seed] = run_summary(rounds)
    rows = {}
    for row, runs in found.items():
        if runs:
            model = build_student(resolved_config(run_values(row, min(runs))))
            parameters = sum(p.numel() for p in model.parameters())
            rows[row] = row_summary(runs, parameters)
    return {"clients": CLIENTS, "rounds": ROUNDS, "experiment": EXPERIMENT, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    """Run (or reuse) the rows and write the page, its JSON and its plot."""
    parser = argparse.ArgumentParser(description="Generate docs/bytes.md from real runs.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to run (default 0 1 2)")
    parser.add_argument("--reuse-only", action="store_true",
                        help="run nothing: build the page from the finished runs (missing seeds are left out)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = measure(args.seeds, args.reuse_only)
    if not data["rows"]:
        raise SystemExit("no finished runs to build docs/bytes.md from")
    command = "python -m pages.bytes_page" + ("" if args.seeds == [0, 1, 2] else
                                              " --seeds " + " ".join(str(s) for s in args.seeds))
    if args.reuse_only:
        command += " --reuse-only"
    write_atomic(DOCS / "bytes.json", json.dumps(data, indent=1).encode())
    write_atomic(DOCS / "bytes.png", plot(data))
    write_atomic(DOCS / "bytes.md", render(data, time.perf_counter() - start, command).encode())
    print(f"wrote {DOCS / 'bytes.md'}")


if __name__ == "__main__":
    main()
