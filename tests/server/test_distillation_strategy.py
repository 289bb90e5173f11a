"""The round wrapper: scheduled values in each round's train config; FedDF after averaging."""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedkd.config import FedKDConfig
from fedkd.distill.schedules import ROUND_TEMPERATURE_KEY
from server.distillation_strategy import DistillationStrategy


class _Recording(Strategy):
    """Records the configs it is asked to send; aggregates to a fixed record."""

    def __init__(self) -> None:
        self.configs: list[ConfigRecord] = []
        self.evaluated: list[int] = []
        self.min_train_nodes = 2

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self.configs.append(config)
        return []

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return ArrayRecord(), MetricRecord({"n": 1})

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        self.evaluated.append(server_round)
        return []

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        pass


def test_distillation_strategy_sends_each_round_its_values_and_delegate_the_rest() -> None:
    inner = _Recording()
    config = FedKDConfig.from_mapping({"num-server-rounds": 2, "kd-temperature": 6.0,
                                       "kd-temperature-schedule": "linear", "kd-temperature-final": 2.0})
    hooks = DistillationStrategy(inner, config)
    base = ConfigRecord(config.to_dict())
    for server_round in (1, 2):
        hooks.configure_train(server_round, ArrayRecord(), base, grid=None)  # type: ignore[arg-type]
    assert [c[ROUND_TEMPERATURE_KEY] for c in inner.configs] == [6.0, 2.0]
    # The run config's key keeps meaning the schedule's start; the caller's record is not modified.
    assert [c["kd-temperature"] for c in inner.configs] == [6.0, 6.0]
    assert ROUND_TEMPERATURE_KEY not in base
    assert hooks.min_train_nodes == 2


def test_distillation_strategy_refines_the_average_with_the_server_distiller() -> None:
    calls: list[int] = []

    def distiller(average: ArrayRecord, members: list[ArrayRecord], server_round: int) -> tuple[ArrayRecord, float]:
        calls.append(len(members))
        return ArrayRecord(), 0.25

    hooks = DistillationStrategy(_Recording(), FedKDConfig(), distiller)
    arrays, metrics = hooks.aggregate_train(1, [])
    assert calls == [0]
    assert metrics is not None and metrics["n"] == 1


def test_distillation_strategy_evaluate_every_three_asks_clients_in_due_rounds_and_the_last() -> None:
    # Prepare
    inner = _Recording()
    config = FedKDConfig.from_mapping({"num-server-rounds": 7, "evaluate-every": 3})
    hooks = DistillationStrategy(inner, config)

    # Execute
    sent = [list(hooks.configure_evaluate(r, ArrayRecord(), ConfigRecord(), grid=None))  # type: ignore[arg-type]
            for r in range(1, 8)]

    # Assert: rounds 3, 6 and the last (7) reach the inner strategy; the others send nothing.
    assert inner.evaluated == [3, 6, 7]
    assert sent == [[]] * 7


def test_distillation_strategy_evaluate_every_default_evaluates_every_fifth_round_and_the_last() -> None:
    inner = _Recording()
    hooks = DistillationStrategy(inner, FedKDConfig.from_mapping({"num-server-rounds": 12}))
    for server_round in range(1, 13):
        hooks.configure_evaluate(server_round, ArrayRecord(), ConfigRecord(), grid=None)  # type: ignore[arg-type]
    assert inner.evaluated == [5, 10, 12]


def test_distillation_strategy_evaluate_every_one_evaluates_every_round() -> None:
    inner = _Recording()
    hooks = DistillationStrategy(inner, FedKDConfig.from_mapping({"num-server-rounds": 3, "evaluate-every": 1}))
    for server_round in (1, 2, 3):
        hooks.configure_evaluate(server_round, ArrayRecord(), ConfigRecord(), grid=None)  # type: ignore[arg-type]
    assert inner.evaluated == [1, 2, 3]
