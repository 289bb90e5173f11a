"""Sweep cells measured a few at a time, kept in a JSON file across days and machines.

A long sweep (the niid-bench anchor: 18 cells of 50 rounds) is measured over several
sittings, often in fresh checkouts whose ``results/`` is empty. A page that reports it
keeps a record of every finished cell it has seen (:func:`cell_record`) and, on each
build, adds the finished runs it finds (:func:`collect`) to the stored ones (:func:`merge`),
dropping any whose cell the sweep file no longer resolves to the config it ran with.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic
from simulations.reuse import finished_run
from simulations.sweep import placed, run_metric
from simulations.sweep_spec import PATH_KEYS, Cell, SweepSpec, config_digest

__all__ = ["protocol_digest", "machine", "cell_record", "finished_on", "collect", "merge", "sweep_command",
           "update_stored"]


def protocol_digest(cell: Cell) -> str:
    """A digest of the config the cell resolves to, less where it runs and where its files are.

    Paths are left out so that a cell measured in one checkout counts in another.
    """
    return config_digest(cell.values, leave_out=PATH_KEYS)


def machine() -> str:
    """Where a cell was measured, in words: cores, processor and the GPU if any."""
    import torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}){gpu}"


def cell_record(cell: Cell, rounds: Sequence[dict[str, Any]], *, metric: str, measured: str,
                where: str) -> dict[str, Any]:
    """What the page keeps of one finished cell: its identity, best and final accuracy, and curve."""
    curve = [None if r.get(metric) is None else float(r[metric]) for r in rounds]
    best = run_metric(rounds, metric, "best")
    teachers = [float(r["teacher_accuracy_mean"]) for r in rounds if r.get("teacher_accuracy_mean") is not None]
    return {"setting": cell.setting, "row": cell.row, "seed": cell.seed, "digest": protocol_digest(cell),
            "best": best, "best_round": curve.index(best), "final": run_metric(rounds, metric),
            "teachers": teachers[-1] if teachers else None,
            "curve": curve, "seconds": round(sum(float(r.get("round_seconds") or 0.0) for r in rounds)),
            "measured": measured, "machine": where}


def finished_on(values: dict[str, Any]) -> str:
    """The day a placed run's results were last written (ISO date), which a later page build does not move."""
    results = Path(values["output-dir"]) / values["run-name"] / "results.json"
    return datetime.date.fromtimestamp(results.stat().st_mtime).isoformat()


def collect(spec: SweepSpec, runs: Path, *, where: str, measured: str | None = None) -> list[dict[str, Any]]:
    """A record for every cell of ``spec`` with a finished run under ``runs``.

    ``measured`` dates every record; by default each is dated by the day its run finished.
    """
    found = []
    for cell in spec.cells():
        values = placed(cell.values, runs)
        rounds = finished_run(values)
        if rounds is not None:
            found.append(cell_record(cell, rounds, metric=spec.metric, measured=measured or finished_on(values),
                                     where=where))
    return found


def merge(spec: SweepSpec, kept: Sequence[dict[str, Any]],
          found: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records to keep, in the sweep's cell order, and those dropped as no longer the protocol.

    A cell found now replaces its earlier record; an earlier record stays when its cell
    still resolves to the config it was measured with.
    """
    current = {protocol_digest(c): (c.setting, c.row, c.seed) for c in spec.cells()}
    by_cell: dict[tuple[str, str, int], dict[str, Any]] = {}
    dropped = []
    for record in [*kept, *found]:
        cell = current.get(record["digest"])
        if cell is None or cell != (record["setting"], record["row"], record["seed"]):
            dropped.append(record)
        else:
            by_cell[cell] = record
    order = list(current.values())
    return sorted(by_cell.values(), key=lambda r: order.index((r["setting"], r["row"], r["seed"]))), dropped


def sweep_command(sweep_file: Path, cell: Cell) -> str:
    """The command that runs one cell of the sweep in ``sweep_file`` (a path relative to the repository)."""
    setting = f"--settings {cell.setting} " if cell.setting else ""
    return f'python -m simulations.sweep {sweep_file.as_posix()} {setting}--rows "{cell.row}" --seeds {cell.seed}'


def update_stored(spec: SweepSpec, sweep_file: str, stored: Path, runs: Path) -> tuple[list[dict[str, Any]], int]:
    """Add the finished runs of ``spec`` under ``runs`` to the records in ``stored`` and rewrite it atomically.

    Returns the records kept, in the sweep's order, and how many finished runs were found.
    A stored record whose cell ``spec`` no longer resolves to the config it ran with is
    dropped, and said so.
    """
    kept = json.loads(stored.read_text())["cells"] if stored.is_file() else []
    found = collect(spec, runs, where=machine())
    records, dropped = merge(spec, kept, found)
    for record in dropped:
        where = f"{record['setting']} / " if record["setting"] else ""
        print(f"dropped {where}{record['row']} seed {record['seed']} ({record['measured']}): "
              f"{sweep_file} no longer resolves that cell to the config it ran with")
    document = {"sweep": sweep_file, "metric": spec.metric, "cells": records}
    write_atomic(stored, (json.dumps(document, indent=1) + "\n").encode())
    return records, len(found)
