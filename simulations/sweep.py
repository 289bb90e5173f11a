"""Sweep config values over seeds, optionally across settings; summarise against a baseline row.

A sweep file (YAML, a flat mapping)::

    name: alpha-temperature          # results go to OUTPUT/<name>/ (default output: results/sweeps)
    num-supernodes: 10
    seeds: [0, 1, 2]
    workers: 1                       # simulations run at once
    metric: global_accuracy          # a round-record key, read from the final round
    metric-round: final              # or best: the highest over the rounds (niid-bench reports that)
    base: {num-server-rounds: 20, experiment: mnist1d-dirichlet.yaml}
    grid: {kd-alpha: [0.3, 0.5, 1.0], kd-temperature: [2.0, 4.0]}
    baseline: {kd-alpha: 1.0, kd-temperature: 2.0}

Every combination of the grid values is a row. Instead of a grid, rows may be named
bundles of values, with a named baseline and, per row, another row it is compared with::

    rows: {"CE-only": {kd-alpha: 1.0}, "Hinton KD": {}, "KD, labels hidden": {unlabeled-fraction: 0.9},
           "CE-only, labels hidden": {kd-alpha: 1.0, unlabeled-fraction: 0.9}}
    baseline: CE-only
    paired-with: {"KD, labels hidden": "CE-only, labels hidden"}
    settings:                        # optional second axis: every row runs in every setting
      mnist1d-iid: {label: "MNIST-1D, IID", values: {experiment: mnist1d-iid.yaml}}
      bbc: {values: {experiment: bbc-news-dirichlet.yaml}, rows: ["CE-only", "Hinton KD"],
            not-applicable: {...}, not-run: {...}, row-values: {"Hinton KD": {...}}}

(:mod:`simulations.sweep_spec` has the details.) Each row runs once per seed (in each
setting). A run's folder is named by its resolved config, and a folder holding a
complete run of the identical config is reused, so an interrupted sweep resumes where
it stopped. The table gives each row's mean over seeds, the seed spread (min to max)
and the paired difference from its baseline row in the same setting (mean and spread
over the seeds both ran). ``simulations/sweeps/methods.yaml`` is the methods table of
``docs/methods.md``.

Run: ``python -m simulations.sweep FILE.yaml [--output results/sweeps] [--workers N]``; ``--seeds``,
``--rows`` and ``--settings`` run only some cells (``--list`` shows them first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from simulations.flower_run import SimulationFailed, run_simulation
from simulations.reuse import finished_run
from simulations.sweep_spec import Cell, SweepSpec, cell_values, config_digest, label, load_spec

__all__ = ["Cell", "SweepSpec", "config_digest", "label", "load_spec", "run_cells", "run_sweep", "run_values",
           "selected_cells", "summarize", "markdown", "final_metric", "run_metric"]

RUN_TIMEOUT = 3 * 3600
"""Seconds one run of a sweep may take."""


def placed(values: Mapping[str, Any], output: Path) -> dict[str, Any]:
    """``values`` with the folder they run in: ``output/run-<digest of the resolved config>``."""
    return {**values, "output-dir": str(output), "run-name": f"run-{config_digest(values)}"}


def run_values(spec: SweepSpec, row: Mapping[str, Any], seed: int, output: Path) -> dict[str, Any]:
    """The run-config of one grid row and seed (no settings); its folder named by the resolved config."""
    return placed(cell_values(spec, next(iter(spec.settings.values())), "", row, seed), output)


Outcome = list[dict[str, Any]] | str | None
"""A cell's rounds; the reason it failed; or ``None`` (not run: ``reuse_only`` and no finished run)."""


def run_cells(cells: Sequence[Cell], output: Path, *, num_supernodes: int, workers: int = 1,
              reuse_only: bool = False) -> list[tuple[Cell, Outcome]]:
    """Run (or reuse) every cell in ``output``, ``workers`` at once; each cell's rounds, in order.

    With ``reuse_only`` nothing runs: a cell without a finished run of its config gives ``None``.
    """
    def one(cell: Cell) -> tuple[Cell, Outcome]:
        values = placed(cell.values, output)
        rounds = finished_run(values)
        if rounds is not None:
            print(f"[sweep] reusing {cell.label} seed {cell.seed}", flush=True)
            return cell, rounds
        if reuse_only:
            return cell, None
        print(f"[sweep] running {cell.label} seed {cell.seed}", flush=True)
        try:
            done = run_simulation(num_supernodes=num_supernodes, run_config=values, echo=False, timeout=RUN_TIMEOUT)
        except SimulationFailed as error:
            return cell, f"failed: {str(error)[-300:]}"
        return cell, finished_run(values) or json.loads((done / "results.json").read_text())["rounds"]

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(one, cells))


def final_metric(rounds: Sequence[Mapping[str, Any]], metric: str) -> float:
    """The metric of the final round.

    Raises
    ------
    KeyError
        If the final round has no such value.
    """
    value = rounds[-1].get(metric)
    if value is None:
        raise KeyError(f"the final round has no {metric!r}; keys: {', '.join(sorted(rounds[-1]))}")
    return float(value)


def run_metric(rounds: Sequence[Mapping[str, Any]], metric: str, which: str = "final") -> float:
    """The metric of the final round (``which="final"``) or its highest over the rounds (``"best"``).

    Raises
    ------
    KeyError
        If the final round, or every round for ``best``, has no such value.
    ValueError
        If ``which`` is neither.
    """
    if which == "final":
        return final_metric(rounds, metric)
    if which != "best":
        raise ValueError(f"which must be final or best, got {which!r}")
    values = [float(r[metric]) for r in rounds if r.get(metric) is not None]
    if not values:
        raise KeyError(f"no round has {metric!r}")
    return max(values)


def summarize(values: Mapping[str, Mapping[int, float]], baseline: str,
              baselines: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Per row: mean, seed spread, and the paired difference from its baseline row over shared seeds.

    Parameters
    ----------
    values : mapping
        Row label -> seed -> metric.
    baseline : str
        The baseline row's label.
    baselines : mapping, optional
        Row label -> the label of the row it is compared with, where not ``baseline``.
    """
    table = []
    for name, by_seed in values.items():
        compared = (baselines or {}).get(name, baseline)
        reference = values.get(compared, {})
        scores = list(by_seed.values())
        shared = sorted(set(by_seed) & set(reference))
        deltas = [by_seed[s] - reference[s] for s in shared] if name != compared else []
        table.append({
            "row": name,
            "baseline": compared,
            "seeds": len(scores),
            "mean": sum(scores) / len(scores) if scores else None,
            "min": min(scores, default=None),
            "max": max(scores, default=None),
            "paired_seeds": len(shared),
            "delta_mean": sum(deltas) / len(deltas) if deltas else None,
            "delta_min": min(deltas) if deltas else None,
            "delta_max": max(deltas) if deltas else None,
        })
    return table


def markdown(table: Sequence[Mapping[str, Any]], metric: str, baseline: str) -> str:
    """The summary as a markdown table; a row compared with another than ``baseline`` names it."""
    def number(value: float | None, signed: bool = False) -> str:
        return "" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")

    lines = [f"| row | seeds | mean {metric} | seed spread | vs baseline (paired) |", "|---|---|---|---|---|"]
    for r in table:
        spread = f"{number(r['min'])} to {number(r['max'])}" if r["seeds"] else ""
        compared = r.get("baseline", baseline)
        if r["row"] == compared:
            delta = "baseline"
        elif r["delta_mean"] is None:
            delta = ""
        else:
            delta = (f"{number(r['delta_mean'], True)} ({number(r['delta_min'], True)} to "
                     f"{number(r['delta_max'], True)}, {r['paired_seeds']} seeds)")
            delta += f" vs {compared}" if compared != baseline else ""
        lines.append(f"| {r['row']} | {r['seeds']} | {number(r['mean'])} | {spread} | {delta} |")
    return "\n".join(lines) + "\n"


def row_labels(spec: SweepSpec) -> tuple[str, dict[str, str]]:
    """The baseline's label in the table (of the first setting), and each row's baseline label."""
    def name(setting: str, row: str) -> str:
        return Cell(setting, row, 0, {}).label

    baselines = {name(c.setting, c.row): name(c.setting, spec.baseline_of(c.row)) for c in spec.cells()}
    return name(next(iter(spec.settings)), spec.baseline_row()), baselines


def selected_cells(spec: SweepSpec, *, seeds: Sequence[int] = (), rows: Sequence[str] = (),
                   settings: Sequence[str] = ()) -> list[Cell]:
    """The sweep's cells, narrowed to these seeds, rows and settings (each empty: all of them).

    A long sweep (``niid-bench.yaml``: about 10 hours on 2 cores) can so run a few cells at a time;
    the others are reused when finished, or left out of the summary.

    Raises
    ------
    ValueError
        Naming a seed, row or setting the sweep file does not have.
    """
    cells = spec.cells()
    for kind, asked, known in (("seed", seeds, {c.seed for c in cells}), ("row", rows, {c.row for c in cells}),
                               ("setting", settings, {c.setting for c in cells})):
        unknown = [str(a) for a in asked if a not in known]
        if unknown:
            raise ValueError(f"{spec.name} has no {kind} {', '.join(map(repr, unknown))}; "
                             f"it has {', '.join(map(repr, sorted(map(str, known))))}")
    return [c for c in cells if (not seeds or c.seed in seeds) and (not rows or c.row in rows)
            and (not settings or c.setting in settings)]


def run_sweep(spec: SweepSpec, output: Path, *, workers: int | None = None,
              cells: Sequence[Cell] | None = None) -> list[dict[str, Any]]:
    """Run (or reuse) every cell, or only ``cells``; write ``sweep.json`` and ``sweep.md`` under ``output/name``."""
    folder = output / spec.name
    cells = spec.cells() if cells is None else list(cells)
    outcomes = run_cells(cells, folder / "runs", num_supernodes=spec.num_supernodes, workers=workers or spec.workers)
    values: dict[str, dict[int, float]] = {cell.label: {} for cell in cells}
    failures = []
    for cell, outcome in outcomes:
        if isinstance(outcome, list):
            values[cell.label][cell.seed] = run_metric(outcome, spec.metric, spec.metric_round)
        else:
            failures.append({"row": cell.label, "seed": cell.seed, "error": outcome})
    baseline, baselines = row_labels(spec)
    table = summarize(values, baseline, baselines)
    document = {"name": spec.name, "metric": spec.metric, "metric_round": spec.metric_round, "baseline": baseline,
                "values": {k: {str(s): v for s, v in by.items()} for k, by in values.items()},
                "table": table, "failures": failures}
    write_atomic(folder / "sweep.json", json.dumps(document, indent=2).encode())
    scored = spec.metric if spec.metric_round == "final" else f"best {spec.metric}"
    write_atomic(folder / "sweep.md", markdown(table, scored, baseline).encode())
    return table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the sweep file (YAML)")
    parser.add_argument("--output", type=Path, default=Path("results") / "sweeps")
    parser.add_argument("--workers", type=int, default=None, help="simulations at once (default: the file's)")
    parser.add_argument("--list", action="store_true",
                        help="run nothing: print each cell, its run folder and whether a finished run is there")
    parser.add_argument("--seeds", type=int, nargs="+", default=[], help="only these seeds (default: the file's)")
    parser.add_argument("--rows", nargs="+", default=[], help="only these rows, by name (default: all)")
    parser.add_argument("--settings", nargs="+", default=[], help="only these settings, by name (default: all)")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.file)
        cells = selected_cells(spec, seeds=args.seeds, rows=args.rows, settings=args.settings)
    except (ValueError, OSError) as error:
        print(f"sweep: {error}", file=sys.stderr)
        return 2
    if args.list:
        runs = args.output.resolve() / spec.name / "runs"
        for cell in cells:
            values = placed(cell.values, runs)
            state = "finished" if finished_run(values) is not None else "to run"
            print(f"{cell.label} | seed {cell.seed} | {runs / values['run-name']} | {state}")
        return 0
    table = run_sweep(spec, args.output.resolve(), workers=args.workers, cells=cells)
    print(markdown(table, spec.metric, row_labels(spec)[0]), end="")
    print(f"[sweep] saved {args.output / spec.name / 'sweep.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
