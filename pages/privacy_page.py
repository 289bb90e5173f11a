"""Generate ``docs/privacy.md`` (and ``docs/privacy.json``): global-student accuracy against epsilon.

On MNIST-1D and Fashion-MNIST, Dirichlet(0.5) over 10 clients, this runs the
federated KD student through Flower at epsilon 1, 2, 4 and 8 (delta 1e-5) under

- local DP: DP-SGD at every site, noise calibrated once for the planned run
  (``dp-target-epsilon``); record-level epsilon of each site's data;
- client-level DP: Flower's server-side fixed clipping, noise calibrated to a
  user-level epsilon for the run (``client-dp-target-epsilon``);
- both at once (each guarantee at the same epsilon),

and without DP (epsilon infinity). Each run reports the epsilon it actually spent;
the page shows those, not the targets. The grid is the sweep file
``simulations/sweeps/privacy.yaml``, run through the sweep machinery
(:mod:`simulations.sweep`); runs whose results exist for the identical config are
reused. ``docs/results.md`` shows the same table (``pages.results_page`` reads
``docs/privacy.json``).

Run: ``python -m pages.privacy_page [--quick] [--epsilons ...] [--datasets ...]``.

The section "Local DP, tuned" is :mod:`pages.privacy_tuned`'s (from
``docs/privacy-tuned.json``); ``python -m pages.privacy_page --tuned`` rebuilds
that JSON from the ``dp-*`` sweeps and rewrites only that section of the page.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import time
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from fedkd.privacy.scopes import PRIVACY_SCOPES
from pages.paths import DOCS, ROOT
from pages.privacy_tuned import rewrite_tuned, write_tuned
from simulations.sweep import run_cells
from simulations.sweep_spec import Cell, SweepSpec, load_spec

# The grid is a sweep file; its runs go where `python -m simulations.sweep` puts them, so either reuses the other's.
SWEEP_FILE = ROOT / "simulations" / "sweeps" / "privacy.yaml"
OUTPUT = ROOT / "results" / "sweeps"
QUICK = {"num-server-rounds": 2, "teacher-epochs": 5}
EPSILONS = (1.0, 2.0, 4.0, 8.0)
# Experiment file and run-config overrides per dataset, as the sweep file's settings have them (a test keeps
# them equal). Fashion-MNIST runs 5 rounds, not the file's 20: DP-SGD at 10 sites of ~4800 records costs
# ~10 CPU-minutes a run on the generating machine; the page says so.
DATASETS: dict[str, tuple[str, dict[str, Any]]] = {
    "MNIST-1D": ("mnist1d-dirichlet.yaml", {}),
    "Fashion-MNIST": ("fashion-mnist-dirichlet.yaml", {"num-server-rounds": 5}),
}
# Each mode's values (the sweep file's rows are "<mode> at epsilon <target>"; a test keeps them equal).
MODES: dict[str, dict[str, Any]] = {
    "local DP (record level)": {"local-dp": True},
    "client-level DP (user level)": {"client-dp": "server-fixed"},
    "both": {"local-dp": True, "client-dp": "server-fixed"},
}


@functools.cache
def privacy_sweep() -> SweepSpec:
    """The page's grid: ``simulations/sweeps/privacy.yaml``, parsed and checked."""
    return load_spec(SWEEP_FILE)


def row_name(mode: str | None, epsilon: float | None) -> str:
    """The sweep file's row of a mode at a target epsilon (``no DP`` without a mode)."""
    return "no DP" if mode is None else f"{mode} at epsilon {epsilon:g}"


def grid_cell(dataset: str, mode: str | None, epsilon: float | None, quick: bool) -> Cell:
    """The sweep file's cell of one (dataset, mode, epsilon), seed 0; ``quick`` cuts it to 2 rounds.

    Raises
    ------
    KeyError
        If the sweep file has no such cell.
    """
    row = row_name(mode, epsilon)
    for cell in privacy_sweep().cells():
        if (cell.setting, cell.row, cell.seed) == (dataset, row, 0):
            return replace(cell, values={**cell.values, **QUICK}) if quick else cell
    raise KeyError(f"{SWEEP_FILE} has no row {row!r} in setting {dataset!r}")


def _cell(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    last = rounds[-1]
    return {"final_accuracy": last["global_accuracy"], "best_accuracy": max(r["global_accuracy"] for r in rounds),
            "record_epsilon_max": last.get("epsilon_max"), "user_epsilon": last.get("user_epsilon"),
            "privacy_scope": last.get("privacy_scope"), "error_replies": sum(r.get("error_replies", 0) for r in rounds)}


def _fmt(value: float | str | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    value = float(value)  # results.json writes an infinite epsilon as "inf"
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def table_lines(data: dict[str, Any]) -> list[str]:
    """The privacy-utility table of every dataset in ``docs/privacy.json``'s data."""
    out = ["| dataset | rounds | mode | target epsilon | final accuracy | best accuracy | record-level epsilon "
           "(max over sites) | user-level epsilon |", "|---|---|---|---|---|---|---|---|"]
    for dataset, part in data["datasets"].items():
        rounds, base = part["rounds"], part["baseline"]
        out.append(f"| {dataset} | {rounds} | no DP | infinity | {_fmt(base['final_accuracy'], True)} | "
                   f"{_fmt(base['best_accuracy'], True)} | - | - |")
        for mode, cells in part["table"].items():
            for epsilon, cell in cells.items():
                out.append(f"| {dataset} | {rounds} | {mode} | {epsilon} | {_fmt(cell['final_accuracy'], True)} | "
                           f"{_fmt(cell['best_accuracy'], True)} | {_fmt(cell['record_epsilon_max'])} | "
                           f"{_fmt(cell['user_epsilon'])} |")
    return out


def coverage_lines() -> list[str]:
    """What the two kinds of epsilon cover, and the published anchors."""
    return [
        f"- Record-level epsilon (local DP): {PRIVACY_SCOPES[1]}. These runs train the teachers without DP; "
        "`teacher-dp=true` composes a DP teacher's epsilon into the same figure, and a teacher checkpoint "
        "declared public (`teacher-public`) takes the teacher out of the question, as does the run's public-pool "
        "teacher used as it is (`teacher-finetune-epochs=0`), which the site reports as covering all its records.",
        "- User-level epsilon (client-level DP): a whole site's contribution to the released global student, one "
        "Gaussian release per round, no amplification by client sampling (every site trains every round).",
        "- Anchors (centralized DP-SGD on MNIST, 60000 records in one place): the Opacus MNIST example reaches "
        "96.8% at epsilon 2.91 and 94.6% at 1.16; Abadi et al., *Deep Learning with Differential Privacy*, 2016, "
        "report 95% and 97% at epsilon 2 and 8. Here each site holds a few hundred (MNIST-1D) or a few thousand "
        "(Fashion-MNIST) records, so every DP-SGD step is far noisier at the same epsilon, and client-level DP "
        "over ten sites adds noise the size of a whole update.",
    ]


def render(data: dict[str, Any], seconds: float, command: str, clients: int) -> str:
    """The markdown page."""
    experiments = ", ".join(f"{name}: `simulations/experiments/{DATASETS[name][0]}`" for name in data["datasets"])
    out = [
        "# fedkd: privacy against utility",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()} in {seconds / 60:.0f} minutes on "
        f"{os.cpu_count()} CPU cores, torch {version('torch')}, flwr {version('flwr')}, opacus {version('opacus')}. "
        "`docs/privacy.json` holds every number.",
        "",
        f"Dirichlet(0.5) over {clients} clients ({experiments}): the KD student distilled from each site's teacher, "
        "FedAvg, seed 0, delta 1e-5; Fashion-MNIST runs 5 rounds to fit the generating machine's CPU time. "
        "Every epsilon shown is the one the run reported after its last round (record level: the largest over "
        "sites; user level: Flower's RDP accountant), not the target.",
        "",
        *table_lines(data),
        "",
        "## What the figures cover",
        "",
        *coverage_lines(),
        "",
    ]
    page = "\n".join(out)
    tuned = DOCS / "privacy-tuned.json"
    return rewrite_tuned(page, json.loads(tuned.read_text())) if tuned.is_file() else page


def measure(dataset: str, epsilons: tuple[float, ...], clients: int, quick: bool,
            reuse_only: bool = False) -> dict[str, Any] | None:
    """The no-DP baseline and every (mode, epsilon) cell of one dataset.

    With ``reuse_only`` nothing runs: cells without a finished run are left out,
    and a dataset without its baseline gives ``None``.
    """
    grid = [(None, None)] + [(mode, eps) for mode in MODES for eps in epsilons]
    cells = [grid_cell(dataset, mode, eps, quick) for mode, eps in grid]
    outcomes = run_cells(cells, OUTPUT / privacy_sweep().name / "runs", num_supernodes=clients, reuse_only=reuse_only)
    done = {}
    for (mode, eps), (cell, outcome) in zip(grid, outcomes, strict=True):
        if isinstance(outcome, str):
            print(f"[privacy] {cell.label}: {outcome}", flush=True)
        elif outcome is not None:
            done[mode, eps] = outcome
    baseline_rounds = done.pop((None, None), None)
    if baseline_rounds is None:
        return None
    table: dict[str, Any] = {}
    for (mode, eps), rounds in done.items():
        if mode is not None:  # the baseline, popped above, is the only cell without a mode
            table.setdefault(mode, {})[eps] = _cell(rounds)
    return {"rounds": baseline_rounds[-1]["round"], "baseline": _cell(baseline_rounds), "table": table}


def main() -> None:
    """Run the grid and write the page."""
    parser = argparse.ArgumentParser(description="Generate docs/privacy.md from real runs.")
    parser.add_argument("--quick", action="store_true", help="3 clients, 2 rounds, MNIST-1D, epsilon 8 only")
    parser.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS), help="targets to run")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--reuse-only", action="store_true",
                        help="run nothing: build the page from the finished runs (cells not run are left out)")
    parser.add_argument("--tuned", action="store_true",
                        help="run nothing: rebuild docs/privacy-tuned.json from the dp-* sweeps and rewrite that "
                             "section of docs/privacy.md")
    parser.add_argument("--sweeps", type=Path, default=ROOT / "results" / "sweeps",
                        help="where the dp-* sweeps wrote their summaries (with --tuned)")
    args = parser.parse_args()
    if args.tuned:
        write_tuned(args.sweeps)
        return
    clients = 3 if args.quick else 10
    epsilons = (8.0,) if args.quick else tuple(args.epsilons)
    datasets = ["MNIST-1D"] if args.quick else args.datasets
    start = time.perf_counter()
    measured = {name: measure(name, epsilons, clients, args.quick, args.reuse_only) for name in datasets}
    data = {"datasets": {name: part for name, part in measured.items() if part is not None}}
    seconds = time.perf_counter() - start
    command = "python -m pages.privacy_page" + (" --quick" if args.quick else "")
    if not args.quick and epsilons != EPSILONS:
        command += " --epsilons " + " ".join(f"{e:g}" for e in epsilons)
    if not args.quick and datasets != list(DATASETS):
        command += " --datasets " + " ".join(datasets)
    if args.reuse_only:
        command += " --reuse-only"
    target = ROOT / "docs" / ("privacy-quick" if args.quick else "privacy")
    write_atomic(target.with_suffix(".json"), json.dumps(data, indent=1).encode())
    write_atomic(target.with_suffix(".md"), render(data, seconds, command, clients).encode())
    print(f"wrote {target.with_suffix('.md')}")


if __name__ == "__main__":
    main()
