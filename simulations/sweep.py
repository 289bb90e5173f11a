"""Sweep a grid of config values over seeds; summarise against a baseline row.

A sweep file (YAML, a flat mapping)::

    name: alpha-temperature          # results go to OUTPUT/<name>/ (default output: results/sweeps)
    num-supernodes: 10
    seeds: [0, 1, 2]
    workers: 1                       # simulations run at once
    metric: global_accuracy          # a round-record key, read from the final round
    base: {num-server-rounds: 20, experiment: mnist1d-dirichlet.yaml}
    grid: {kd-alpha: [0.3, 0.5, 1.0], kd-temperature: [2.0, 4.0]}
    baseline: {kd-alpha: 1.0, kd-temperature: 2.0}

Every combination of the grid values is a row; each row runs once per seed. A
run's folder is named by its resolved config, and a folder holding a complete run
of the identical config is reused, so an interrupted sweep resumes where it
stopped. The table gives each row's mean over seeds, the seed spread (min to max)
and the paired difference from the baseline row (mean and spread over the seeds
both ran).

Run: ``python -m simulations.sweep FILE.yaml [--output results/sweeps] [--workers N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedkd.io import write_atomic
from simulations.run import SimulationFailed, finished_run, resolved_config, run_simulation

SPEC_KEYS = {"name", "num-supernodes", "seeds", "workers", "metric", "base", "grid", "baseline"}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file."""

    name: str
    grid: dict[str, list[Any]]
    baseline: dict[str, Any]
    base: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    num_supernodes: int = 10
    workers: int = 1
    metric: str = "global_accuracy"

    def rows(self) -> list[dict[str, Any]]:
        """Every combination of the grid values, in the file's order."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]


def load_spec(path: Path) -> SweepSpec:
    """Read and check a sweep file.

    Raises
    ------
    ValueError
        For an unknown top-level key, an empty grid, a baseline that is not a grid
        row, or grid rows that resolve to the same config.
    """
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a sweep file is a mapping of {', '.join(sorted(SPEC_KEYS))}")
    unknown = set(document) - SPEC_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown sweep key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(SPEC_KEYS))}")
    grid = document.get("grid") or {}
    if not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError(f"{path}: 'grid' must map config keys to non-empty lists of values")
    spec = SweepSpec(
        name=str(document.get("name") or path.stem), grid=dict(grid), baseline=dict(document.get("baseline") or {}),
        base=dict(document.get("base") or {}), seeds=tuple(int(s) for s in document.get("seeds", [0])),
        num_supernodes=int(document.get("num-supernodes", 10)), workers=int(document.get("workers", 1)),
        metric=str(document.get("metric", "global_accuracy")),
    )
    if spec.baseline not in spec.rows():
        raise ValueError(f"{path}: baseline {spec.baseline} is not a grid row; rows: {spec.rows()}")
    seen: dict[str, dict[str, Any]] = {}
    for row in spec.rows():
        digest = config_digest({**spec.base, **row})  # raises ConfigError naming a bad key or value
        if digest in seen:
            raise ValueError(f"{path}: rows {seen[digest]} and {row} resolve to the same config (a value equal "
                             "to its default does not override the experiment file)")
        seen[digest] = row
    return spec


def config_digest(values: Mapping[str, Any]) -> str:
    """A short digest of the config these run-config values resolve to."""
    resolved = resolved_config(values).to_dict()
    for key in ("output-dir", "run-name"):
        resolved.pop(key, None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:10]


def label(row: Mapping[str, Any]) -> str:
    """``kd-alpha=0.3 kd-temperature=2.0``."""
    return " ".join(f"{k}={v}" for k, v in row.items())


def run_values(spec: SweepSpec, row: Mapping[str, Any], seed: int, output: Path) -> dict[str, Any]:
    """The run-config of one (row, seed): base, row and seed; its folder named by the resolved config."""
    values = {**spec.base, **row, "seed": seed}
    return {**values, "output-dir": str(output), "run-name": f"run-{config_digest(values)}"}


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


def summarize(values: Mapping[str, Mapping[int, float]], baseline: str) -> list[dict[str, Any]]:
    """Per row: mean, seed spread, and the paired difference from the baseline row over shared seeds.

    Parameters
    ----------
    values : mapping
        Row label -> seed -> metric.
    baseline : str
        The baseline row's label.
    """
    reference = values.get(baseline, {})
    table = []
    for name, by_seed in values.items():
        scores = list(by_seed.values())
        shared = sorted(set(by_seed) & set(reference))
        deltas = [by_seed[s] - reference[s] for s in shared]
        table.append({
            "row": name,
            "seeds": len(scores),
            "mean": sum(scores) / len(scores) if scores else None,
            "min": min(scores, default=None),
            "max": max(scores, default=None),
            "paired_seeds": len(shared),
            "delta_mean": sum(deltas) / len(deltas) if deltas and name != baseline else None,
            "delta_min": min(deltas) if deltas and name != baseline else None,
            "delta_max": max(deltas) if deltas and name != baseline else None,
        })
    return table


def markdown(table: Sequence[Mapping[str, Any]], metric: str, baseline: str) -> str:
    """The summary as a markdown table."""
    def number(value: float | None, signed: bool = False) -> str:
        return "" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")

    lines = [f"| row | seeds | mean {metric} | seed spread | vs baseline (paired) |", "|---|---|---|---|---|"]
    for r in table:
        spread = f"{number(r['min'])} to {number(r['max'])}" if r["seeds"] else ""
        if r["row"] == baseline:
            delta = "baseline"
        elif r["delta_mean"] is None:
            delta = ""
        else:
            delta = (f"{number(r['delta_mean'], True)} ({number(r['delta_min'], True)} to "
                     f"{number(r['delta_max'], True)}, {r['paired_seeds']} seeds)")
        lines.append(f"| {r['row']} | {r['seeds']} | {number(r['mean'])} | {spread} | {delta} |")
    return "\n".join(lines) + "\n"


def run_sweep(spec: SweepSpec, output: Path, *, workers: int | None = None) -> list[dict[str, Any]]:
    """Run (or reuse) every row and seed; write ``sweep.json`` and ``sweep.md`` under ``output/name``."""
    folder = output / spec.name
    jobs = [(label(row), seed, run_values(spec, row, seed, folder / "runs"))
            for row in spec.rows() for seed in spec.seeds]

    def one(job: tuple[str, int, dict[str, Any]]) -> tuple[str, int, float | str]:
        name, seed, values = job
        rounds = finished_run(values)
        if rounds is None:
            print(f"[sweep] running {name} seed {seed}", flush=True)
            try:
                done = run_simulation(num_supernodes=spec.num_supernodes, run_config=values, echo=False)
            except SimulationFailed as error:
                return name, seed, f"failed: {str(error)[-300:]}"
            rounds = finished_run(values) or json.loads((done / "results.json").read_text())["rounds"]
        else:
            print(f"[sweep] reusing {name} seed {seed}", flush=True)
        return name, seed, final_metric(rounds, spec.metric)

    with ThreadPoolExecutor(max(1, workers or spec.workers)) as pool:
        outcomes = list(pool.map(one, jobs))
    values: dict[str, dict[int, float]] = {label(row): {} for row in spec.rows()}
    failures = []
    for name, seed, outcome in outcomes:
        if isinstance(outcome, str):
            failures.append({"row": name, "seed": seed, "error": outcome})
        else:
            values[name][seed] = outcome
    table = summarize(values, label(spec.baseline))
    document = {"name": spec.name, "metric": spec.metric, "baseline": label(spec.baseline),
                "values": {k: {str(s): v for s, v in by.items()} for k, by in values.items()},
                "table": table, "failures": failures}
    write_atomic(folder / "sweep.json", json.dumps(document, indent=2).encode())
    write_atomic(folder / "sweep.md", markdown(table, spec.metric, label(spec.baseline)).encode())
    return table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the sweep file (YAML)")
    parser.add_argument("--output", type=Path, default=Path("results") / "sweeps")
    parser.add_argument("--workers", type=int, default=None, help="simulations at once (default: the file's)")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.file)
    except (ValueError, OSError) as error:
        print(f"sweep: {error}", file=sys.stderr)
        return 2
    table = run_sweep(spec, args.output.resolve(), workers=args.workers)
    print(markdown(table, spec.metric, label(spec.baseline)), end="")
    print(f"[sweep] saved {args.output / spec.name / 'sweep.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
