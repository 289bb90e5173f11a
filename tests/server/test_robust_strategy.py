"""Robust aggregation: one poisoned site (huge but finite weights) moves FedAvg's student, not a robust one's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, Message, Metadata, MetricRecord, RecordDict

from fedkd.config import FedKDConfig
from fedkd.student import build_student
from server.strategy import build_strategy

ROBUST = ["fedmedian", "fedtrimmedavg", "krum", "multikrum", "bulyan"]
HONEST_SITES = 6  # Bulyan tolerates f poisoned sites among 4f + 3; with f = 1 that is 7 sites


def _reply(node: int, state: dict[str, torch.Tensor]) -> Message:
    metadata = Metadata(run_id=1, message_id=str(node), src_node_id=node, dst_node_id=0, reply_to_message_id="",
                        group_id="1", created_at=0.0, ttl=10.0, message_type="train")
    content = RecordDict({"arrays": ArrayRecord(state), "metrics": MetricRecord({"num-examples": 100})})  # type: ignore[arg-type]
    return Message(metadata=metadata, content=content)


def _flat(arrays: ArrayRecord) -> np.ndarray:
    return np.concatenate([a.numpy().ravel() for a in arrays.values()])


def _round(strategy_name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The aggregate of six honest students (small perturbations of one) and one poisoned (1e6 x), the
    honest mean, and the honest spread (the largest deviation of an honest weight from that mean)."""
    config = FedKDConfig.from_mapping({"strategy": strategy_name, "num-malicious-nodes": 1})
    strategy = build_strategy(config, train_metrics_aggr_fn=lambda records, key: MetricRecord(),
                              evaluate_metrics_aggr_fn=lambda records, key: MetricRecord())
    torch.manual_seed(0)
    base = build_student(config).state_dict()
    honest = [{k: v + 0.01 * torch.randn_like(v) for k, v in base.items()} for _ in range(HONEST_SITES)]
    poisoned = {k: 1e6 * v for k, v in base.items()}
    replies = [_reply(i + 1, s) for i, s in enumerate(honest)] + [_reply(99, poisoned)]
    arrays, _ = strategy.aggregate_train(1, replies)
    assert arrays is not None
    flats = [_flat(ArrayRecord(s)) for s in honest]  # type: ignore[arg-type]
    honest_mean = np.mean(flats, axis=0)
    return _flat(arrays), honest_mean, float(max(np.max(np.abs(f - honest_mean)) for f in flats))


def test_fedavg_with_one_poisoned_site_moves_the_student_far() -> None:
    aggregate, honest_mean, _ = _round("fedavg")

    assert np.linalg.norm(aggregate - honest_mean) > 1e4 * np.linalg.norm(honest_mean)


@pytest.mark.parametrize("name", ROBUST)
def test_robust_strategy_with_one_poisoned_site_keeps_the_student_near_the_honest_ones(name: str) -> None:
    aggregate, honest_mean, spread = _round(name)

    # Within the honest sites' own spread around their mean, nowhere near the poisoned 1e6 x.
    assert np.all(np.isfinite(aggregate))
    assert np.max(np.abs(aggregate - honest_mean)) <= spread
