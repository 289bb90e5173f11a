"""Per-round records of a run, written atomically as JSON, CSV and a plot.

``results.json`` is ``{"config": {...}, "rounds": [{...}, ...]}``; ``results.csv``
holds the same rounds, one row each; ``config.yaml`` is the resolved config;
``accuracy.png`` plots accuracy and loss per round under a title naming the run (redrawn at most every
``plot_interval`` seconds while the run goes on, and after its last round). Every file is replaced
whole (written beside its target, then renamed), so a reader never sees half of one. The same
records go, every round, to TensorBoard event files under ``tensorboard/`` (:mod:`fedkd.event_log`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fedkd.event_log import EventLog, open_event_log
from fedkd.io import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    "replies_dropped",
    "failures",
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
        writer.writerow({k: json.dumps(_clean(v)) if isinstance(v, Mapping) else _clean(v) for k, v in record.items()})
    return buffer.getvalue()


def run_title(config: Mapping[str, Any], rounds: Sequence[Mapping[str, Any]]) -> str:
    """Who the run is: dataset, clients, rounds, seed, run name, and (in simulation only) how data was split.

    A deployment's sites bring their own data, so its title names no partitioner; a run
    counts as simulated when its clients reported simulated sites (``simulated_sites``).
    """
    clients = max((int(r.get("clients_trained") or 0) for r in rounds), default=0)
    simulated = any(int(r.get("simulated_sites") or 0) > 0 for r in rounds)
    parts = [str(config.get("dataset", "?"))]
    if simulated:
        # The causal-LM task splits by its own key (by topic unless it names a partitioner).
        split = str(config.get("lm-partitioner" if config.get("task") == "causal-lm" else "partitioner", "?"))
        if split == "dirichlet":
            split += f"({config.get('dirichlet-alpha')})"
        parts.append(f"{clients} simulated clients, {split}")
    elif clients:
        parts.append(f"{clients} sites")
    parts += [f"{config.get('num-server-rounds', '?')} rounds", f"seed {config.get('seed', '?')}"]
    if config.get("run-name"):
        parts.append(f"run {config['run-name']}")
    return " | ".join(parts)


def _series(rounds: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [math.nan if r.get(key) is None else float(r[key]) for r in rounds]


def results_figure(rounds: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Accuracy (global, mean client, mean teacher) and loss per round, side by side, rounds on integer ticks."""
    # The object API with the Agg canvas: no pyplot, so no global backend switch and no global
    # figure state (pyplot imported from two threads at once can fail half-initialized).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    accuracy, loss = figure.subplots(1, 2)
    xs = [r["round"] for r in rounds]
    panels = (
        (accuracy, "accuracy", (
            ("global_accuracy", "o-", "global student (server test set)"),
            ("client_accuracy_mean", ".--", "mean client (local test)"),
            ("teacher_accuracy_mean", ":", "mean local teacher (local test)"),
        )),
        (loss, "loss", (
            ("global_loss", "o-", "global student (server test set)"),
            ("client_loss_mean", ".--", "mean client (local test)"),
            ("train_loss", "x:", "training objective (clients)"),
        )),
    )
    for axes, name, lines in panels:
        for key, style, label in lines:
            ys = _series(rounds, key)
            if not all(math.isnan(y) for y in ys):
                axes.plot(xs, ys, style, label=label)
        axes.set_xlabel("round")
        axes.set_ylabel(name)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="lower right" if name == "accuracy" else "upper right", fontsize=8)
    accuracy.set_ylim(0, 1)
    loss.set_ylim(bottom=0)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_accuracy(rounds: Sequence[Mapping[str, Any]], path: Path, title: str) -> None:
    """Save :func:`results_figure` as a PNG, atomically."""
    buffer = io.BytesIO()
    results_figure(rounds, title).savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())


class ResultsWriter:
    """Collects round records for one run and rewrites its files after each round.

    ``results.json`` and ``results.csv`` are rewritten after every round. The plot
    costs more (tens of milliseconds a round on a small machine), so it is redrawn
    at most every ``plot_interval`` seconds, for the first round, and whenever
    :meth:`append` is told the round is the last or :meth:`flush` is called.

    Parameters
    ----------
    directory : pathlib.Path
        The run's results folder (created).
    config : mapping
        The resolved config, stored with the results.
    plot_interval : float
        Least seconds between two plots while a run goes on; 0 plots every round.
    tensorboard : bool
        Also append each record to TensorBoard event files under ``directory/tensorboard``
        (skipped, with one logged warning, where the ``tensorboard`` package is missing).
    """

    def __init__(self, directory: Path, config: Mapping[str, Any], *, plot_interval: float = 30.0,
                 tensorboard: bool = True):
        self.directory = directory
        self.events: EventLog | None = open_event_log(directory) if tensorboard else None
        self.config = dict(config)
        self.rounds: list[Record] = []
        self.plot_interval = plot_interval
        self._plotted_at: float | None = None
        self._plotted_rounds = 0
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / "config.yaml", yaml.safe_dump(self.config, sort_keys=False).encode())

    def append(self, record: Mapping[str, Any], *, final: bool = False) -> None:
        """Add a round's record; rewrite ``results.json`` and ``results.csv``, and the plot when it is due."""
        self.rounds.append({k: _clean(v) for k, v in record.items()})
        document = {"config": self.config, "rounds": self.rounds}
        write_atomic(self.directory / "results.json", json.dumps(document, indent=2).encode())
        write_atomic(self.directory / "results.csv", rounds_csv(self.rounds).encode())
        if self.events is not None:
            self.events.append(self.rounds[-1])
            if final:
                self.events.close()
        due = self._plotted_at is None or time.monotonic() - self._plotted_at >= self.plot_interval
        if final or due:
            self.flush()

    def flush(self) -> None:
        """Redraw the plot if it lacks a round."""
        if self._plotted_rounds == len(self.rounds):
            return
        plot_accuracy(self.rounds, self.directory / "accuracy.png", run_title(self.config, self.rounds))
        self._plotted_at, self._plotted_rounds = time.monotonic(), len(self.rounds)


def read_results(path: Path) -> dict[str, Any]:
    """Load a ``results.json`` (or the folder holding one)."""
    file = path / "results.json" if path.is_dir() else path
    document = json.loads(file.read_text())
    if not isinstance(document, dict) or "rounds" not in document or "config" not in document:
        raise ValueError(f"{file} is not a fedkd results file (needs 'config' and 'rounds')")
    return document
