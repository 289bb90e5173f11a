"""Per-round records of a run, written atomically as JSON, CSV and a plot.

``results.json`` is ``{"config": {...}, "rounds": [{...}, ...]}``; ``results.csv``
holds the same rounds, one row each; ``config.yaml`` is the resolved config;
``accuracy.png`` plots global-student accuracy per round. Every file is replaced
whole (written beside its target, then renamed), so a reader never sees half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fedkd.io import write_atomic

Record = dict[str, Any]

# The columns every round has, in the order CSV files list them.
ROUND_FIELDS = (
    "round",
    "global_accuracy",
    "global_loss",
    "client_accuracy_mean",
    "client_accuracy_min",
    "client_accuracy_max",
    "teacher_accuracy_mean",
    "train_loss",
    "train_ce",
    "train_kd",
    "clients_trained",
    "clients_evaluated",
    "bytes_sent",
    "bytes_received",
    "round_seconds",
)


def _clean(value: Any) -> Any:
    """Standard JSON, inside mappings and lists too: NaN becomes ``None``, an infinity the string ``"inf"``
    (or ``"-inf"``).

    An infinite epsilon (DP-SGD without noise) is a result, not a missing value: it
    stays distinguishable from "not measured", and ``float("inf")`` reads it back.
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    return value


def rounds_csv(rounds: Sequence[Mapping[str, Any]]) -> str:
    """The rounds as CSV text: the standard columns first, then any others."""
    extra = sorted({k for r in rounds for k in r} - set(ROUND_FIELDS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*ROUND_FIELDS, *extra], lineterminator="\n")
    writer.writeheader()
    for record in rounds:
        writer.writerow({k: _clean(v) for k, v in record.items()})
    return buffer.getvalue()


def plot_accuracy(rounds: Sequence[Mapping[str, Any]], path: Path, title: str) -> None:
    """Save a plot of global (and mean client) accuracy per round."""
    # The object API with the Agg canvas: no pyplot, so no global backend switch and no global
    # figure state (pyplot imported from two threads at once can fail half-initialized).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = [r["round"] for r in rounds]
    lines = (
        ("global_accuracy", "o-", "global student (server test set)"),
        ("client_accuracy_mean", ".--", "mean client (local test)"),
        ("teacher_accuracy_mean", ":", "mean local teacher (local test)"),
    )
    for key, style, label in lines:
        ys = [math.nan if r.get(key) is None else float(r[key]) for r in rounds]
        if not all(math.isnan(y) for y in ys):
            axes.plot(xs, ys, style, label=label)
    axes.set_xlabel("round")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title(title, fontsize=9)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())


class ResultsWriter:
    """Collects round records for one run and rewrites its files after each round.

    Parameters
    ----------
    directory : pathlib.Path
        The run's results folder (created).
    config : mapping
        The resolved config, stored with the results.
    """

    def __init__(self, directory: Path, config: Mapping[str, Any]):
        self.directory = directory
        self.config = dict(config)
        self.rounds: list[Record] = []
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / "config.yaml", yaml.safe_dump(self.config, sort_keys=False).encode())

    def append(self, record: Mapping[str, Any]) -> None:
        """Add a round's record and rewrite ``results.json``, ``results.csv`` and the plot."""
        self.rounds.append({k: _clean(v) for k, v in record.items()})
        document = {"config": self.config, "rounds": self.rounds}
        write_atomic(self.directory / "results.json", json.dumps(document, indent=2).encode())
        write_atomic(self.directory / "results.csv", rounds_csv(self.rounds).encode())
        title = " / ".join(f"{k}={self.config.get(k)}" for k in ("dataset", "partitioner", "kd-alpha"))
        plot_accuracy(self.rounds, self.directory / "accuracy.png", title)


def read_results(path: Path) -> dict[str, Any]:
    """Load a ``results.json`` (or the folder holding one)."""
    file = path / "results.json" if path.is_dir() else path
    document = json.loads(file.read_text())
    if not isinstance(document, dict) or "rounds" not in document or "config" not in document:
        raise ValueError(f"{file} is not a fedkd results file (needs 'config' and 'rounds')")
    return document
