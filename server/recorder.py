"""Turn each round's client metrics and the central evaluation into one record.

The recorder plugs into a Flower strategy without copying its round loop: its two
aggregation callbacks see the clients' replies, and its ``evaluate`` (the
strategy's ``evaluate_fn``, called after every round and before the first)
evaluates the global student on the server's held-out test set, assembles the
round's record, prints it, and rewrites the results files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from logging import INFO
from typing import Any

from flwr.app import ArrayRecord, MetricRecord, RecordDict
from flwr.common.logger import log

from fedkd.evaluation import EvalStats
from fedkd.privacy.scopes import PRIVACY_SCOPES
from fedkd.results import ResultsWriter
from server.metered_grid import MeteredGrid

GlobalEvaluator = Callable[[ArrayRecord], EvalStats]


def _metrics(records: list[RecordDict]) -> list[MetricRecord]:
    return [m for r in records for m in r.metric_records.values()]


# Every round statistic is weighted by the examples behind it.
EXAMPLES_KEY = "num-examples"


def _weighted_mean(rows: list[MetricRecord], key: str, weight_key: str) -> float | None:
    pairs = [(float(r[key]), float(r[weight_key])) for r in rows if key in r and float(r[weight_key]) > 0]  # type: ignore[arg-type]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def _values(rows: list[MetricRecord], key: str, weight_key: str) -> list[float]:
    """``key`` of the rows whose ``weight_key`` is positive (or absent)."""
    return [float(r[key]) for r in rows  # type: ignore[arg-type]
            if key in r and (weight_key not in r or float(r[weight_key]) > 0)]  # type: ignore[arg-type]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _record(values: dict[str, float | None]) -> MetricRecord:
    return MetricRecord({k: v for k, v in values.items() if v is not None})


def privacy_summary(rows: list[MetricRecord]) -> dict[str, Any]:
    """Per-site and max epsilon of a round, and what the figures cover."""
    private = [r for r in rows if "epsilon" in r]
    if not private:
        return {}
    # Keyed by the site's stable id (from its data), so one site's curve continues across runs and restarts.
    per_client = {str(int(r.get("site-id", r.get("node-id", i)))): float(r["epsilon"])  # type: ignore[arg-type]
                  for i, r in enumerate(private)}
    scopes = sorted({int(r["privacy-scope"]) for r in private})  # type: ignore[call-overload]
    return {
        "epsilon_max": max(per_client.values()),
        "epsilon_per_client": per_client,
        "privacy_scope": "; ".join(PRIVACY_SCOPES[s] for s in scopes),
    }


def accuracy_per_site(rows: list[MetricRecord], weight_key: str) -> dict[str, float]:
    """Local-test accuracy of the global student per site (keyed by its stable ``site-id``), for the sites
    that sent one and hold a test split."""
    return {str(int(r["site-id"])): float(r["accuracy"])  # type: ignore[call-overload, arg-type]
            for r in rows if "site-id" in r and "accuracy" in r and float(r.get(weight_key, 0)) > 0}  # type: ignore[arg-type]


class RoundRecorder:
    """Collects one record per round and writes it through a :class:`ResultsWriter`.

    Parameters
    ----------
    writer : ResultsWriter
        Where records go.
    evaluate_global : callable
        Evaluates global student arrays on the held-out test set.
    grid : MeteredGrid
        Supplies byte counts.
    num_rounds : int
        For progress lines.
    language_model : bool
        The causal-LM task: also record ``global_perplexity``, the exp of the token-mean loss.
    """

    def __init__(self, writer: ResultsWriter, evaluate_global: GlobalEvaluator, grid: MeteredGrid, num_rounds: int,
                 *, language_model: bool = False):
        self.writer = writer
        self.language_model = language_model
        self.evaluate_global = evaluate_global
        self.grid = grid
        self.num_rounds = num_rounds
        self._train: dict[str, Any] = {}
        self._evaluate: dict[str, Any] = {}
        self._bytes = (0, 0)
        self._errors = 0
        self.user_privacy: Callable[[], tuple[float, float] | None] = lambda: None
        self.failures: Callable[[], tuple[dict[str, str], int]] = lambda: ({}, 0)
        """Sites whose replies were errors or were left out this round (site -> reason), and how many
        replies were left out: :meth:`server.reply_guard.ReplyGuard.take`."""
        self._clock = time.perf_counter()

    def aggregate_train(self, records: list[RecordDict], strategy_weight_key: str) -> MetricRecord:
        """Train-metrics callback: example-weighted loss parts and mean teacher accuracy.

        Statistics are weighted by ``num-examples`` whatever key the strategy averages
        weights by (``strategy_weight_key``; client-level DP averages them uniformly).
        """
        weight_key = EXAMPLES_KEY
        rows = _metrics(records)
        self._train = {
            "train_loss": _weighted_mean(rows, "train-loss", weight_key),
            "train_ce": _weighted_mean(rows, "train-ce", weight_key),
            "train_kd": _weighted_mean(rows, "train-kd", weight_key),
            "kd_temperature": _mean(_values(rows, "kd-temperature", weight_key)),
            "kd_alpha": _mean(_values(rows, "kd-alpha", weight_key)),
            "clients_trained": len(rows),
            "simulated_sites": sum(int(r.get("simulated-site", 0)) for r in rows),  # type: ignore[call-overload]
            "train_examples": int(sum(float(r[weight_key]) for r in rows)),  # type: ignore[arg-type]
        }
        teacher = _mean(_values(rows, "teacher-accuracy", "test-examples"))
        if teacher is not None:
            self._train["teacher_accuracy_mean"] = teacher
        self._train.update(privacy_summary(rows))
        return _record({k.replace("_", "-"): v for k, v in self._train.items() if isinstance(v, int | float)})

    def aggregate_evaluate(self, records: list[RecordDict], weight_key: str) -> MetricRecord:
        """Evaluate-metrics callback: client accuracy (example-weighted mean, min, max) and transfer metrics
        (student-teacher agreement, example-weighted; accuracy retention, the ratio of the example-weighted
        student and teacher accuracies)."""
        weight_key = "num-examples"
        rows = _metrics(records)
        accuracies = _values(rows, "accuracy", weight_key)
        self._evaluate = {
            "client_accuracy_mean": _weighted_mean(rows, "accuracy", weight_key),
            "client_accuracy_min": min(accuracies) if accuracies else None,
            "client_accuracy_max": max(accuracies) if accuracies else None,
            "client_loss_mean": _weighted_mean(rows, "loss", weight_key),
            "clients_evaluated": len(rows),
            "teacher_accuracy_mean": _mean(_values(rows, "teacher-accuracy", weight_key)),
            "agreement_mean": _weighted_mean(rows, "agreement", weight_key),
        }
        # Retention: student accuracy over teacher accuracy, both example-weighted over the same splits
        # (a ratio of means: a site whose teacher scores 0 cannot make it undefined).
        teacher = _weighted_mean(rows, "teacher-accuracy", weight_key)
        student = self._evaluate["client_accuracy_mean"]
        self._evaluate["retention_mean"] = student / teacher if student is not None and teacher else None
        numbers = {k.replace("_", "-"): v for k, v in self._evaluate.items()}
        per_site = accuracy_per_site(rows, weight_key)
        if per_site:
            self._evaluate["client_accuracy_per_site"] = per_site
        return _record(numbers)

    def evaluate(self, server_round: int, arrays: ArrayRecord) -> MetricRecord:
        """The strategy's ``evaluate_fn``: central evaluation, then record and write the round."""
        stats = self.evaluate_global(arrays)
        now = time.perf_counter()
        sent, received, errors = self.grid.bytes_sent, self.grid.bytes_received, self.grid.error_replies
        record: dict[str, Any] = {
            "round": server_round,
            "global_accuracy": stats.accuracy,
            "global_loss": stats.loss,
            **self._train,
            **{k: v for k, v in self._evaluate.items() if v is not None or k not in self._train},
            "bytes_sent": sent - self._bytes[0],
            "bytes_received": received - self._bytes[1],
            "round_seconds": now - self._clock,
            "error_replies": errors - self._errors,
        }
        record["failures"], record["replies_dropped"] = self.failures()
        if self.language_model:  # loss is the token-mean cross-entropy, accuracy the next-token accuracy
            record["global_perplexity"] = math.exp(min(stats.loss, 700.0))
        user = self.user_privacy()
        if user is not None:
            record["user_epsilon"], record["user_delta"] = user
        self.writer.append(record, final=server_round == self.num_rounds)
        self._log(record)
        self._train, self._evaluate = {}, {}
        self._bytes = (sent, received)
        self._errors = errors
        # The next round's time starts here, so it counts writing and printing this round's record too.
        self._clock = now
        return MetricRecord({"accuracy": stats.accuracy, "loss": stats.loss})

    def _log(self, r: dict[str, Any]) -> None:
        line = (f"[fedkd] round {r['round']}/{self.num_rounds}: global student accuracy "
                f"{r['global_accuracy']:.4f} (loss {r['global_loss']:.4f})")
        if r.get("client_accuracy_mean") is not None:
            line += (f" | clients {r['client_accuracy_mean']:.4f} "
                     f"[{r['client_accuracy_min']:.4f}, {r['client_accuracy_max']:.4f}]")
        if r.get("teacher_accuracy_mean") is not None:
            line += f" | teachers {r['teacher_accuracy_mean']:.4f}"
        if r.get("agreement_mean") is not None:
            line += f" | agreement {r['agreement_mean']:.4f}"
        if r.get("epsilon_max") is not None:
            line += f" | epsilon max {r['epsilon_max']:.3f}"
        if r.get("user_epsilon") is not None:
            line += f" | user-level epsilon {r['user_epsilon']:.3f}"
        if r.get("failures"):
            line += f" | {len(r['failures'])} site(s) failed or left out: " + "; ".join(
                f"{site}: {reason}" for site, reason in sorted(r["failures"].items()))
        if r.get("global_perplexity") is not None:
            line += f" | held-out perplexity {r['global_perplexity']:.2f}"
        line += f" | {r['round_seconds']:.1f}s"
        log(INFO, line)
