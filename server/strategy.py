"""Choose a Flower strategy by name and wire fedkd's metric aggregation into it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flwr.app import MetricRecord, RecordDict
from flwr.serverapp.strategy import (
    Bulyan,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    MultiKrum,
)

from fedkd.config import ConfigError, FedKDConfig
from server.client_dp import UNIFORM_WEIGHT_KEY

MetricsAggregator = Callable[[list[RecordDict], str], MetricRecord]


StrategyFactory = Callable[[FedKDConfig, dict[str, Any]], FedAvg]


def _step(config: FedKDConfig) -> dict[str, float]:
    """``server-learning-rate = 0`` keeps each adaptive strategy's own default step size."""
    return {"eta": config.server_learning_rate} if config.server_learning_rate > 0 else {}


def _fedavgm(config: FedKDConfig, common: dict[str, Any]) -> FedAvg:
    lr = config.server_learning_rate if config.server_learning_rate > 0 else 1.0
    return FedAvgM(server_learning_rate=lr, server_momentum=config.server_momentum, **common)


# Server strategies by config name. Config validation (check_strategy) reads the names from here.
STRATEGIES: dict[str, StrategyFactory] = {
    "fedavg": lambda config, common: FedAvg(**common),
    "fedprox": lambda config, common: FedProx(proximal_mu=config.proximal_mu, **common),
    "fedavgm": _fedavgm,
    "fedadam": lambda config, common: FedAdam(**_step(config), **common),
    "fedyogi": lambda config, common: FedYogi(**_step(config), **common),
    "fedadagrad": lambda config, common: FedAdagrad(**_step(config), **common),
    "fedmedian": lambda config, common: FedMedian(**common),
    # Robust to poisoned (large but finite) replies; non-finite ones never get here (server.reply_guard).
    "fedtrimmedavg": lambda config, common: FedTrimmedAvg(beta=config.trimmed_avg_beta, **common),
    "krum": lambda config, common: Krum(num_malicious_nodes=config.num_malicious_nodes, **common),
    "multikrum": lambda config, common: MultiKrum(num_malicious_nodes=config.num_malicious_nodes,
                                                  num_nodes_to_select=config.krum_select, **common),
    "bulyan": lambda config, common: Bulyan(num_malicious_nodes=config.num_malicious_nodes, **common),
}


def check_strategy(config: FedKDConfig) -> None:
    """Refuse a strategy name the registry does not hold.

    Raises
    ------
    ConfigError
        Naming the key, the value and the registered names.
    """
    if config.strategy not in STRATEGIES:
        raise ConfigError(f"strategy={config.strategy!r} is not allowed: choose one of {', '.join(STRATEGIES)}")


def build_strategy(
    config: FedKDConfig,
    *,
    train_metrics_aggr_fn: MetricsAggregator,
    evaluate_metrics_aggr_fn: MetricsAggregator,
) -> FedAvg:
    """The strategy named by ``config.strategy``, weighting clients by ``num-examples``
    (equally under client-level DP).
    """
    check_strategy(config)
    common: dict[str, Any] = {
        "weighted_by_key": UNIFORM_WEIGHT_KEY if config.client_dp != "none" else "num-examples",
        "fraction_train": config.fraction_train,
        "fraction_evaluate": config.fraction_evaluate,
        "train_metrics_aggr_fn": train_metrics_aggr_fn,
        "evaluate_metrics_aggr_fn": evaluate_metrics_aggr_fn,
    }
    return STRATEGIES[config.strategy](config, common)
