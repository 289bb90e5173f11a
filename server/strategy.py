"""Choose a Flower strategy by name and wire fedkd's metric aggregation into it."""

from __future__ import annotations

from collections.abc import Callable

from flwr.app import MetricRecord, RecordDict
from flwr.serverapp.strategy import (
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedYogi,
)

from fedkd.config import FedKDConfig
from server.client_dp import UNIFORM_WEIGHT_KEY

MetricsAggregator = Callable[[list[RecordDict], str], MetricRecord]


def build_strategy(
    config: FedKDConfig,
    *,
    train_metrics_aggr_fn: MetricsAggregator,
    evaluate_metrics_aggr_fn: MetricsAggregator,
) -> FedAvg:
    """The strategy named by ``config.strategy``, weighting clients by ``num-examples``
    (equally under client-level DP).

    ``server-learning-rate = 0`` keeps each strategy's own default step size.
    """
    common = {
        "weighted_by_key": UNIFORM_WEIGHT_KEY if config.client_dp != "none" else "num-examples",
        "fraction_train": config.fraction_train,
        "fraction_evaluate": config.fraction_evaluate,
        "train_metrics_aggr_fn": train_metrics_aggr_fn,
        "evaluate_metrics_aggr_fn": evaluate_metrics_aggr_fn,
    }
    step = {"eta": config.server_learning_rate} if config.server_learning_rate > 0 else {}
    if config.strategy == "fedavg":
        return FedAvg(**common)
    if config.strategy == "fedprox":
        return FedProx(proximal_mu=config.proximal_mu, **common)
    if config.strategy == "fedavgm":
        lr = config.server_learning_rate if config.server_learning_rate > 0 else 1.0
        return FedAvgM(server_learning_rate=lr, server_momentum=config.server_momentum, **common)
    if config.strategy == "fedadam":
        return FedAdam(**step, **common)
    if config.strategy == "fedyogi":
        return FedYogi(**step, **common)
    if config.strategy == "fedadagrad":
        return FedAdagrad(**step, **common)
    if config.strategy == "fedmedian":
        return FedMedian(**common)
    raise ValueError(f"strategy={config.strategy!r} is not known")
