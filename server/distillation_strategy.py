"""A strategy wrapper that adds fedkd's per-round server steps without copying Flower's round loop.

- **Schedules**: each round's train config carries that round's scheduled temperature
  and alpha (:func:`fedkd.distill.schedules.round_values`) under their own keys.
- **Sparse federated evaluation**: clients evaluate every ``evaluate-every`` rounds
  (and in the last); the rounds between send no evaluate messages at all.
- **Server ensemble distillation** (FedDF): after the inner strategy averages the
  students, the average is refined on the server's unlabeled proxy set towards
  the ensemble of the round's client students.

Everything else is delegated to the wrapped strategy, as Flower's DP wrappers do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from logging import INFO

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedkd.config import FedKDConfig
from fedkd.distill.schedules import round_values
from server.wrapped_strategy import WrappedStrategy

# (averaged arrays, client arrays, round) -> refined arrays and the distillation loss
ServerDistiller = Callable[[ArrayRecord, list[ArrayRecord], int], tuple[ArrayRecord, float]]


def evaluation_due(server_round: int, config: FedKDConfig) -> bool:
    """Whether clients evaluate the global student this round: every ``evaluate-every`` rounds and in the last."""
    return server_round % config.evaluate_every == 0 or server_round == config.num_server_rounds


class DistillationStrategy(WrappedStrategy):
    """Wraps ``inner``; adds scheduled round config and, optionally, server ensemble distillation."""

    def __init__(self, inner: Strategy, config: FedKDConfig, distiller: ServerDistiller | None = None) -> None:
        self.inner = inner
        self.config = config
        self.distiller = distiller

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        scheduled = ConfigRecord({**config, **round_values(self.config, server_round).to_record()})
        return self.inner.configure_train(server_round, arrays, scheduled, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        arrays, metrics = self.inner.aggregate_train(server_round, replies)
        if arrays is None or self.distiller is None:
            return arrays, metrics
        members = [r.content.array_records["arrays"] for r in replies if r.has_content()]
        arrays, loss = self.distiller(arrays, members, server_round)
        log(INFO, "[fedkd] round %s: server ensemble distillation of %s students, loss %.4f",
            server_round, len(members), loss)
        return arrays, metrics

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        if not evaluation_due(server_round, self.config):
            return []
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

