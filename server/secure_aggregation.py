"""Secure aggregation: Flower's SecAgg+ workflow, so the server only ever sees the sum of updates.

SecAgg+ (Bell et al., 2020) masks each site's quantized update with pairwise and
self masks that cancel in the sum; a site dropping out is recovered from secret
shares held by its neighbours. Flower offers it on its legacy workflow API only,
so this module drives that API with a legacy FedAvg that evaluates the global
student centrally every round through fedkd's recorder. Under SecAgg+ the sites'
scalar metrics still travel in the clear; federated evaluation is off (the
server-side evaluation remains).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, MetricRecord, RecordDict
from flwr.common import NDArrays, Scalar, ndarrays_to_parameters
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAvg as LegacyFedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD
from flwr.serverapp import Grid

from fedkd.config import FedKDConfig
from fedkd.distill.schedules import round_values
from server.recorder import RoundRecorder


def _state(names: list[str], arrays: NDArrays) -> ArrayRecord:
    return ArrayRecord({n: torch.from_numpy(np.array(a)) for n, a in zip(names, arrays, strict=True)})


def _count_or_share(value: float) -> int | float:
    """Flower reads a float as a share of the sampled sites and an int as a count."""
    return value if value <= 1 else int(value)


def run_secure_aggregation(
    grid: Grid, context: Context, config: FedKDConfig, recorder: RoundRecorder, initial: ArrayRecord
) -> ArrayRecord:
    """Run every round under SecAgg+; return the final global student's arrays."""
    names = list(initial.keys())

    def evaluate_fn(server_round: int, arrays: NDArrays, _: dict[str, Scalar]) -> tuple[float, dict[str, Scalar]]:
        record = recorder.evaluate(server_round, _state(names, arrays))
        return float(record["loss"]), {"accuracy": float(record["accuracy"])}  # type: ignore[arg-type]

    def fit_metrics(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Scalar]:
        replies = [RecordDict({"metrics": MetricRecord({**m, "num-examples": n})}) for n, m in results]
        return dict(recorder.aggregate_train(replies, "num-examples"))  # type: ignore[arg-type]

    strategy = LegacyFedAvg(
        fraction_fit=config.fraction_train,
        fraction_evaluate=0.0,
        min_evaluate_clients=0,
        evaluate_fn=evaluate_fn,
        on_fit_config_fn=lambda server_round: {**config.to_dict(), "server-round": server_round,
                                              **round_values(config, server_round).to_record()},
        fit_metrics_aggregation_fn=fit_metrics,
        initial_parameters=ndarrays_to_parameters(initial.to_numpy_ndarrays()),
    )
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=config.num_server_rounds), strategy=strategy)
    secure = SecAggPlusWorkflow(
        num_shares=_count_or_share(config.secagg_num_shares),
        reconstruction_threshold=_count_or_share(config.secagg_reconstruction_threshold),
        clipping_range=config.secagg_clipping_range,
        max_weight=config.secagg_max_weight,
    )
    DefaultWorkflow(fit_workflow=secure)(grid, legacy)
    return _state(names, legacy.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays())
