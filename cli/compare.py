"""``fedkd compare RUN [RUN ...] [--metric global_accuracy] [--out compare.png]``: runs side by side in one plot.

Each run is a results folder (the one holding ``results.json``); the plot has one line per
run, the metric against the round, labelled with the run's name and the config values in
which the runs differ.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cli.student_file import CommandError
from fedkd.io import write_atomic
from fedkd.results import read_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="a run's results folder")
    parser.add_argument("--metric", default="global_accuracy",
                        help="a round-record key of results.json (default global_accuracy)")
    parser.add_argument("--out", type=Path, default=Path("compare.png"), help="the PNG to write (default compare.png)")


def numeric_keys(rounds: Sequence[Mapping[str, Any]]) -> list[str]:
    """Round-record keys holding a number in some round (the metrics a run can be compared on)."""
    return sorted({k for r in rounds for k, v in r.items()
                   if k != "round" and isinstance(v, int | float) and not isinstance(v, bool)})


def load_run(folder: Path) -> tuple[str, list[dict[str, Any]]]:
    """A run's name (its ``run-name``, else its folder's name) and its round records (see :func:`read_run`)."""
    name, _, rounds = read_run(folder)
    return name, rounds


def read_run(folder: Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A run's name (its ``run-name``, else its folder's name), its config and its round records.

    Raises
    ------
    CommandError
        If ``folder`` holds no readable fedkd ``results.json``.
    """
    file = folder / "results.json" if folder.is_dir() else folder
    if not file.is_file():
        raise CommandError(f"{folder} is not a run: it holds no results.json")
    try:
        document = read_results(file)
    except ValueError as error:  # includes JSON decode errors
        raise CommandError(f"{folder} is not a run: {error}") from error
    name = str(document["config"].get("run-name") or file.parent.name)
    return name, dict(document["config"]), list(document["rounds"])


# Config keys that say where a run went, not what it ran.
PLACE_KEYS = ("output-dir", "run-name", "resume-from")


def labels(runs: Sequence[tuple[str, Mapping[str, Any]]], most: int = 4) -> list[str]:
    """Each run's name, followed by the config values in which the runs differ (at most ``most`` of them).

    A sweep names its runs by a digest of their config (``run-3f2a...``): the differing values say which is which.
    """
    keys = sorted({k for _, config in runs for k in config} - set(PLACE_KEYS))
    differing = [k for k in keys if len({repr(config.get(k)) for _, config in runs}) > 1][:most]
    return [" ".join([name, *(f"{k}={config.get(k)}" for k in differing)]) for name, config in runs]


def series(rounds: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[int], list[float]]:
    """Rounds and values of ``metric`` where a round has it (``"inf"`` read as infinity)."""
    points = [(int(r["round"]), float(r[metric])) for r in rounds
              if r.get(metric) is not None and not isinstance(r[metric], bool | Mapping | list)]
    return [p[0] for p in points], [p[1] for p in points]


def compare_figure(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], metric: str) -> Any:
    """One line per run: ``metric`` against the round, labelled with the run's name."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for name, rounds in runs:
        xs, ys = series(rounds, metric)
        axes.plot(xs, [y if math.isfinite(y) else math.nan for y in ys], "o-", markersize=3, label=name)
    axes.set_xlabel("round")
    axes.set_ylabel(metric)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below the plot: labels are long
    axes.set_title(f"{metric}, {len(runs)} runs", fontsize=10)
    return figure


def compare(folders: Sequence[Path], metric: str, out: Path) -> list[str]:
    """Plot ``metric`` of every run into ``out`` (written atomically); return the lines' labels.

    Raises
    ------
    CommandError
        If a folder is not a run, or a run's records lack ``metric`` (the message lists the metrics it has).
    """
    read = [read_run(folder) for folder in folders]
    for folder, (name, _, rounds) in zip(folders, read, strict=True):
        if not series(rounds, metric)[0]:
            raise CommandError(f"--metric {metric}: run {name} ({folder}) has no such values; "
                               f"its metrics: {', '.join(numeric_keys(rounds))}")
    names = labels([(name, config) for name, config, _ in read])
    buffer = io.BytesIO()
    compare_figure([(n, rounds) for n, (_, _, rounds) in zip(names, read, strict=True)], metric).savefig(
        buffer, format="png", dpi=100, bbox_inches="tight")
    write_atomic(out, buffer.getvalue())
    return names


def run(args: argparse.Namespace) -> int:
    """Write the comparison plot; 2 on bad input."""
    try:
        names = compare(args.runs, args.metric, args.out)
    except CommandError as error:
        print(f"fedkd compare: {error}", file=sys.stderr)
        return 2
    print(f"fedkd compare: {args.metric} of {', '.join(names)} -> {args.out}")
    return 0
