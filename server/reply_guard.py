"""A strategy wrapper that keeps bad replies out of aggregation and says which site sent them.

FedAvg is a weighted sum: one reply holding ``nan`` or ``inf`` (a weight or a metric)
spreads to every weight of the global student. Before the wrapped strategy sees a
round's replies, this drops

- error replies (a site that failed, or refused to send, and why),
- replies whose arrays or metrics hold a non-finite number,
- train replies whose arrays do not have the global student's names and shapes,
- replies with a negative ``num-examples``,

and records each site's reason. An aggregate that is still not finite (finite replies
whose weighted sum overflows) is not adopted: the global student stays as it was,
and ``failures["aggregate"]`` says why. The round recorder reads them once per round
(:meth:`ReplyGuard.take`) into the round's ``failures`` and ``replies_dropped``.
"""

from __future__ import annotations

from collections.abc import Iterable
from logging import WARNING

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedkd.finite import first_non_finite, non_finite_scalars
from server.wrapped_strategy import WrappedStrategy


def site_of(reply: Message) -> str:
    """The sender of a reply, as the round record names it."""
    return str(reply.metadata.src_node_id)


def _last_line(reason: str, limit: int = 1000) -> str:
    """A traceback's last line (the exception and its message), at most ``limit`` characters."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= limit else last[: limit - 3] + "..."


def reply_problem(reply: Message, shapes: dict[str, tuple[int, ...]] | None) -> str | None:
    """Why ``reply`` must not be aggregated, or ``None``.

    Parameters
    ----------
    reply : Message
        A site's reply.
    shapes : dict, optional
        The global arrays' names and shapes that a train reply must match; ``None``: not checked.
    """
    if reply.has_error():
        return f"error reply (code {reply.error.code}): {_last_line(reply.error.reason)}"
    for name, record in reply.content.array_records.items():
        reason = first_non_finite({f"{name}.{key}": array.numpy() for key, array in record.items()})
        if reason is not None:
            return f"non-finite weights: {reason}"
        if shapes is not None:
            got = {key: tuple(array.shape) for key, array in record.items()}
            if got != shapes:
                return f"arrays do not match the global student: {sorted(set(got) ^ set(shapes)) or 'shapes differ'}"
    for name, metrics in reply.content.metric_records.items():
        reason = non_finite_scalars((f"{name}.{key}", value) for key, value in metrics.items())
        if reason is not None:
            return f"non-finite metric: {reason}"
        examples = metrics.get("num-examples", 0)
        if isinstance(examples, int | float) and examples < 0:
            return f"{name}.num-examples={examples} is negative"
    return None


class ReplyGuard(WrappedStrategy):
    """Wraps ``inner``; drops bad replies before it aggregates them and records why, per site."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self._shapes: dict[str, tuple[int, ...]] | None = None
        self._failures: dict[str, str] = {}
        self._dropped = 0

    def take(self) -> tuple[dict[str, str], int]:
        """The failures (site -> reason) and the count of dropped replies since the last call."""
        failures, dropped = self._failures, self._dropped
        self._failures, self._dropped = {}, 0
        return failures, dropped

    def _screen(self, stage: str, replies: Iterable[Message],
                shapes: dict[str, tuple[int, ...]] | None) -> list[Message]:
        kept = []
        for reply in replies:
            problem = reply_problem(reply, shapes)
            if problem is None:
                kept.append(reply)
                continue
            site = site_of(reply)
            self._failures[site] = "; ".join(p for p in (self._failures.get(site), f"{stage}: {problem}") if p)
            if not reply.has_error():
                self._dropped += 1
            log(WARNING, "[fedkd] %s reply of site %s left out: %s", stage, site, problem)
        return kept

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self._shapes = {key: tuple(array.shape) for key, array in arrays.items()}
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        arrays, metrics = self.inner.aggregate_train(server_round, self._screen("train", replies, self._shapes))
        reason = None if arrays is None else first_non_finite({k: a.numpy() for k, a in arrays.items()})
        if reason is not None:
            # Finite replies can still overflow a weighted sum; the global student then stays as it was.
            self._failures["aggregate"] = f"the aggregate is not finite, the global student is kept: {reason}"
            log(WARNING, "[fedkd] round %s: %s", server_round, self._failures["aggregate"])
            return None, metrics
        return arrays, metrics

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.inner.aggregate_evaluate(server_round, self._screen("evaluate", replies, None))
