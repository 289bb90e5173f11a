"""A strategy that wraps another and hands it everything it does not change itself.

fedkd's server steps (round values, FedDF, the reply guard, the decoder of compressed
updates, the round offset of a resumed run) are wrappers, as Flower's DP wrappers are,
so Flower's round loop is written once. A subclass overrides only the hooks it changes;
every other hook, ``summary`` and any attribute the loop reads (``min_train_nodes``, ...)
come from ``inner``.
"""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy


class WrappedStrategy(Strategy):
    """Delegates every hook to ``inner``."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        # Only reached for attributes the wrapper lacks: they come from the wrapped strategy.
        return getattr(self.inner, name)

    def summary(self) -> None:
        self.inner.summary()

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return self.inner.aggregate_train(server_round, replies)

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.inner.aggregate_evaluate(server_round, replies)
