"""The reply guard: bad replies never reach aggregation, and the round record names each site's reason."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Error, Message, Metadata, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg

from fedkd.evaluation import EvalStats
from fedkd.results import ResultsWriter
from server.recorder import RoundRecorder
from server.reply_guard import ReplyGuard


def _metadata(node: int) -> Metadata:
    return Metadata(run_id=1, message_id=str(node), src_node_id=node, dst_node_id=0, reply_to_message_id="",
                    group_id="1", created_at=0.0, ttl=10.0, message_type="train")


def _reply(node: int, weight: np.ndarray, **metrics: float) -> Message:
    content = RecordDict({"arrays": ArrayRecord({"w": torch.from_numpy(weight)}),
                          "metrics": MetricRecord({"num-examples": 10, **metrics})})
    return Message(metadata=_metadata(node), content=content)


def _error(node: int, reason: str) -> Message:
    return Message(metadata=_metadata(node), error=Error(code=4002, reason=reason))


class _QuietFedAvg(FedAvg):
    """FedAvg that sends nothing (its messages need a running Flower app); it aggregates as FedAvg."""

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: object) -> list[Message]:
        return []


def _guarded() -> ReplyGuard:
    guard = ReplyGuard(_QuietFedAvg(train_metrics_aggr_fn=lambda records, key: MetricRecord({"n": len(records)})))
    guard.configure_train(1, ArrayRecord({"w": torch.zeros(3)}), ConfigRecord(), None)  # type: ignore[arg-type]
    return guard


BAD_REPLIES = {
    "nan weight": (_reply(7, np.array([1.0, math.nan, 1.0], dtype=np.float32)), "non-finite weights: arrays.w holds 1"),
    "inf weight": (_reply(7, np.array([1.0, 1.0, -math.inf], dtype=np.float32)), "(first: -inf at index 2)"),
    "nan metric": (_reply(7, np.ones(3, dtype=np.float32), **{"train-loss": math.nan}),
                   "non-finite metric: metrics.train-loss=nan"),
    "wrong shape": (_reply(7, np.ones(4, dtype=np.float32)), "arrays do not match the global student"),
    "negative examples": (_reply(7, np.ones(3, dtype=np.float32), **{"num-examples": -5}),
                          "metrics.num-examples=-5 is negative"),
    "error reply": (_error(7, "site data file /x/train.npz: x holds 1 non-finite value"),
                    "error reply (code 4002): site data file /x/train.npz"),
}


@pytest.mark.parametrize("bad", BAD_REPLIES, ids=list(BAD_REPLIES))
def test_reply_guard_bad_reply_is_left_out_and_its_reason_recorded(bad: str) -> None:
    # Prepare: two good sites (weights 1 and 3) and one bad one.
    reply, reason = BAD_REPLIES[bad]
    guard = _guarded()
    good = [_reply(1, np.full(3, 1.0, dtype=np.float32)), _reply(2, np.full(3, 3.0, dtype=np.float32))]

    # Execute
    arrays, metrics = guard.aggregate_train(1, [*good, reply])
    failures, dropped = guard.take()

    # Assert: the average of the good sites only; the bad one named with its reason, once.
    assert arrays is not None and np.array_equal(arrays["w"].numpy(), np.full(3, 2.0, dtype=np.float32))
    assert metrics is not None and metrics["n"] == 2
    assert list(failures) == ["7"] and reason in failures["7"] and failures["7"].startswith("train: ")
    assert dropped == (0 if bad == "error reply" else 1)
    assert guard.take() == ({}, 0)


def test_reply_guard_every_reply_bad_aggregates_nothing() -> None:
    guard = _guarded()

    arrays, metrics = guard.aggregate_train(1, [_reply(3, np.full(3, math.nan, dtype=np.float32))])

    assert arrays is None and metrics is None
    assert guard.take()[1] == 1


def test_reply_guard_evaluate_reply_with_nan_loss_is_left_out() -> None:
    guard = ReplyGuard(FedAvg(evaluate_metrics_aggr_fn=lambda records, key: MetricRecord({"n": len(records)})))
    good = Message(metadata=_metadata(1), content=RecordDict({"metrics": MetricRecord(
        {"num-examples": 5, "loss": 0.5})}))
    bad = Message(metadata=_metadata(2), content=RecordDict({"metrics": MetricRecord(
        {"num-examples": 5, "loss": math.inf})}))

    metrics = guard.aggregate_evaluate(1, [good, bad])

    assert metrics is not None and metrics["n"] == 1
    assert guard.take() == ({"2": "evaluate: non-finite metric: metrics.loss=inf is not a finite number"}, 1)


def test_round_recorder_writes_failures_and_replies_dropped(tmp_path: Path) -> None:
    guard = _guarded()
    guard.aggregate_train(1, [_reply(1, np.ones(3, dtype=np.float32)),
                              _reply(9, np.full(3, math.nan, dtype=np.float32)), _error(4, "teacher refused")])
    grid = type("G", (), {"bytes_sent": 0, "bytes_received": 0, "error_replies": 1})()
    recorder = RoundRecorder(ResultsWriter(tmp_path, {}), lambda arrays: EvalStats(0.5, 0.75, 10), grid, 1)  # type: ignore[arg-type]
    recorder.failures = guard.take

    recorder.evaluate(1, ArrayRecord())

    record = json.loads((tmp_path / "results.json").read_text())["rounds"][0]
    assert record["replies_dropped"] == 1
    assert set(record["failures"]) == {"9", "4"} and "teacher refused" in record["failures"]["4"]
    assert '"9": "train: non-finite weights' in (tmp_path / "results.csv").read_text().replace('""', '"')


class _Overflowing(_QuietFedAvg):
    """Aggregates finite replies to inf, as a server-side optimiser (FedAdam, FedAvgM) can overflow."""

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        list(replies)
        return ArrayRecord({"w": torch.full((3,), math.inf)}), MetricRecord({"n": 2})


def test_reply_guard_aggregate_that_is_not_finite_keeps_the_global_student() -> None:
    # Prepare: finite replies, an aggregation that overflows.
    guard = ReplyGuard(_Overflowing())
    guard.configure_train(1, ArrayRecord({"w": torch.zeros(3)}), ConfigRecord(), None)  # type: ignore[arg-type]
    replies = [_reply(1, np.ones(3, dtype=np.float32)), _reply(2, np.ones(3, dtype=np.float32))]

    # Execute
    arrays, metrics = guard.aggregate_train(1, replies)

    # Assert: nothing adopted (Flower keeps the global student), and the round record will say why.
    assert arrays is None and metrics is not None
    failures, dropped = guard.take()
    assert dropped == 0 and "the aggregate is not finite" in failures["aggregate"]
