"""Server glue: byte metering, per-round records and strategy choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, Metadata, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAdam, FedAvg, FedAvgM, FedProx

from fedkd.config import ConfigError, FedKDConfig
from fedkd.evaluation import EvalStats
from fedkd.results import ResultsWriter
from server.metered_grid import MeteredGrid, content_bytes
from server.recorder import RoundRecorder
from server.strategy import STRATEGIES, build_strategy, check_strategy


def test_content_bytes_counts_arrays_and_records_including_empty_strings() -> None:
    arrays = ArrayRecord([np.zeros((10, 10), dtype=np.float32)])
    content = RecordDict({
        "arrays": arrays,
        "config": ConfigRecord({"ab": "", "cd": 1.5, "e": True}),
        "metrics": MetricRecord({"m": 2}),
    })

    total = content_bytes(content)

    array_bytes = sum(len(a.data) for a in arrays.values())
    assert array_bytes >= 400
    assert total == array_bytes + (2 + 0) + (2 + 8) + (1 + 1) + (1 + 8)


class _Grid:
    bytes_sent = 0
    bytes_received = 0
    error_replies = 0


def _reply(**metrics: float) -> RecordDict:
    return RecordDict({"metrics": MetricRecord(dict(metrics))})


def test_round_recorder_merges_client_and_central_metrics_into_one_record(tmp_path: Path) -> None:
    grid = _Grid()
    recorder = RoundRecorder(ResultsWriter(tmp_path, {"dataset": "x"}), lambda arrays: EvalStats(0.5, 0.75, 10),
                             grid, num_rounds=1)  # type: ignore[arg-type]
    recorder.evaluate(0, ArrayRecord())
    train = [
        _reply(**{"num-examples": 10, "train-loss": 1.0, "train-ce": 2.0, "train-kd": 0.0, "teacher-accuracy": 0.5}),
        _reply(**{"num-examples": 30, "train-loss": 3.0, "train-ce": 4.0, "train-kd": 2.0, "teacher-accuracy": 0.9}),
    ]
    evaluate = [_reply(**{"num-examples": 1, "accuracy": 0.2, "loss": 1.0, "teacher-accuracy": 0.5}),
                _reply(**{"num-examples": 3, "accuracy": 0.6, "loss": 2.0, "teacher-accuracy": 0.9}),
                _reply(**{"num-examples": 0, "accuracy": 0.0, "loss": 0.0})]
    grid.bytes_sent, grid.bytes_received, grid.error_replies = 100, 40, 1

    recorder.aggregate_train(train, "num-examples")
    recorder.aggregate_evaluate(evaluate, "num-examples")
    recorder.evaluate(1, ArrayRecord())

    rounds = json.loads((tmp_path / "results.json").read_text())["rounds"]
    record = rounds[1]
    assert record["round"] == 1 and record["global_accuracy"] == 0.75 and record["global_loss"] == 0.5
    assert record["train_loss"] == pytest.approx((10 * 1 + 30 * 3) / 40)
    assert record["train_ce"] == pytest.approx((10 * 2 + 30 * 4) / 40)
    assert record["train_kd"] == pytest.approx(60 / 40)
    assert record["client_accuracy_mean"] == pytest.approx((0.2 + 3 * 0.6) / 4)  # the empty client is skipped
    assert (record["client_accuracy_min"], record["client_accuracy_max"]) == (0.2, 0.6)
    assert record["teacher_accuracy_mean"] == pytest.approx(0.7)
    assert record["clients_trained"] == 2 and record["clients_evaluated"] == 3
    assert record["simulated_sites"] == 0  # these replies come from real sites
    assert (record["bytes_sent"], record["bytes_received"], record["error_replies"]) == (100, 40, 1)
    assert record["round_seconds"] >= 0


@pytest.mark.parametrize("name", STRATEGIES)
def test_build_strategy_every_name_builds_with_fedkd_aggregation(name: str) -> None:
    config = FedKDConfig.from_mapping({"strategy": name})

    strategy = build_strategy(config, train_metrics_aggr_fn=len, evaluate_metrics_aggr_fn=len)  # type: ignore[arg-type]

    assert isinstance(strategy, FedAvg)
    assert strategy.train_metrics_aggr_fn is len


def test_check_strategy_unknown_name_is_refused_listing_the_registry() -> None:
    config = FedKDConfig.from_mapping({"strategy": "fedsgd"})

    with pytest.raises(ConfigError, match=r"strategy='fedsgd'.*fedavg, fedprox"):
        check_strategy(config)


def test_build_strategy_passes_its_hyperparameters() -> None:
    prox = build_strategy(FedKDConfig.from_mapping({"strategy": "fedprox", "proximal-mu": 0.3}),
                          train_metrics_aggr_fn=len, evaluate_metrics_aggr_fn=len)  # type: ignore[arg-type]
    avgm = build_strategy(FedKDConfig.from_mapping({"strategy": "fedavgm", "server-learning-rate": 0.5}),
                          train_metrics_aggr_fn=len, evaluate_metrics_aggr_fn=len)  # type: ignore[arg-type]
    adam = build_strategy(FedKDConfig.from_mapping({"strategy": "fedadam", "server-learning-rate": 0.02}),
                          train_metrics_aggr_fn=len, evaluate_metrics_aggr_fn=len)  # type: ignore[arg-type]

    assert isinstance(prox, FedProx) and prox.proximal_mu == 0.3
    assert isinstance(avgm, FedAvgM) and avgm.server_learning_rate == 0.5
    assert isinstance(adam, FedAdam) and adam.eta == 0.02


def test_round_recorder_reports_per_client_and_max_epsilon_and_scope(tmp_path: Path) -> None:
    grid = _Grid()
    recorder = RoundRecorder(ResultsWriter(tmp_path, {}), lambda arrays: EvalStats(0.5, 0.75, 10),
                             grid, num_rounds=1)  # type: ignore[arg-type]
    train = [_reply(**{"num-examples": 10, "train-loss": 1.0, "train-ce": 1.0, "train-kd": 0.0, "node-id": 7,
                       "epsilon": 1.5, "privacy-scope": 1}),
             _reply(**{"num-examples": 10, "train-loss": 1.0, "train-ce": 1.0, "train-kd": 0.0, "node-id": 9,
                       "epsilon": 2.5, "privacy-scope": 2})]

    recorder.aggregate_train(train, "num-examples")
    recorder.evaluate(1, ArrayRecord())

    record = json.loads((tmp_path / "results.json").read_text())["rounds"][0]
    assert record["epsilon_max"] == 2.5
    assert record["epsilon_per_client"] == {"7": 1.5, "9": 2.5}
    assert "does NOT cover the teacher" in record["privacy_scope"]
    assert "composed" in record["privacy_scope"]


def test_client_level_noise_calibrated_to_target_spends_it_over_the_planned_rounds() -> None:
    from opacus.accountants import RDPAccountant

    from server.client_dp import client_noise

    config = FedKDConfig.from_mapping({"client-dp": "server-fixed", "client-dp-target-epsilon": 4.0,
                                       "num-server-rounds": 12})

    sigma = client_noise(config)

    reference = RDPAccountant()
    for _ in range(12):
        reference.step(noise_multiplier=sigma, sample_rate=1.0)
    assert 3.9 <= reference.get_epsilon(delta=1e-5) <= 4.0


def test_client_level_target_epsilon_needs_fixed_clipping() -> None:
    from fedkd.config import ConfigError

    with pytest.raises(ConfigError, match="client-dp-target-epsilon"):
        FedKDConfig.from_mapping({"client-dp": "server-adaptive", "client-dp-target-epsilon": 4.0})
    with pytest.raises(ConfigError, match="strategy='fedavgm'"):
        FedKDConfig.from_mapping({"client-dp": "server-fixed", "strategy": "fedavgm"})


def _message(src: int, dst: int, content: RecordDict) -> Message:
    metadata = Metadata(run_id=1, message_id="", src_node_id=src, dst_node_id=dst, reply_to_message_id="",
                        group_id="", created_at=0.0, ttl=10.0, message_type="train")
    return Message(metadata=metadata, content=content)


class _ReversingGrid:
    """Answers message i with ``contents[i]`` from its destination, last sender first."""

    def __init__(self, contents: list[RecordDict]):
        self.contents = contents

    def send_and_receive(self, messages: list[Message], *, timeout: float | None = None) -> list[Message]:
        replies = [_message(m.metadata.dst_node_id, 0, c) for m, c in zip(messages, self.contents, strict=True)]
        return replies[::-1]


def _content(value: float, node_id: int) -> RecordDict:
    # Like a site's train reply, the metrics name the sender.
    return RecordDict({"arrays": ArrayRecord({"w": Array(np.full(3, value, dtype=np.float32))}),
                       "metrics": MetricRecord({"num-examples": 10, "node-id": node_id})})


def test_metered_grid_orders_replies_by_content_whatever_the_node_ids_so_aggregation_is_reproducible() -> None:
    orders = []
    for node_ids in ((5, 2, 9), (7, 31, 3)):  # simulated node ids are drawn at random each run
        contents = [_content(v, node) for v, node in zip((0.5, 1.5, 2.5), node_ids, strict=True)]
        grid = MeteredGrid(_ReversingGrid(contents))  # type: ignore[arg-type]
        replies = list(grid.send_and_receive([_message(0, node, RecordDict()) for node in node_ids]))
        orders.append([float(r.content["arrays"]["w"].numpy()[0]) for r in replies])
        assert grid.bytes_received == sum(content_bytes(c) for c in contents)
    assert orders[0] == orders[1] and sorted(orders[0]) == [0.5, 1.5, 2.5]


@pytest.mark.parametrize("mode", ["server-fixed", "client-fixed", "server-adaptive", "client-adaptive"])
def test_layered_strategy_puts_client_dp_directly_around_fedavg_under_the_distillation_strategy(mode: str) -> None:
    from server.app import layer_strategy
    from server.distillation_strategy import DistillationStrategy
    from server.reply_guard import ReplyGuard

    config = FedKDConfig.from_mapping({"client-dp": mode, "client-dp-noise-multiplier": 1.0,
                                       "kd-temperature-schedule": "linear", "kd-temperature-final": 2.0})
    base = build_strategy(config, train_metrics_aggr_fn=len, evaluate_metrics_aggr_fn=len)  # type: ignore[arg-type]

    layered, user_privacy = layer_strategy(base, config, num_nodes=10)

    assert isinstance(layered, ReplyGuard) and isinstance(layered.inner, DistillationStrategy)
    assert layered.inner.inner.strategy is base  # Flower's DP wrappers keep the strategy they wrap as .strategy
    assert user_privacy is not None and user_privacy() is None  # nothing released yet (adaptive: never accounted)


def test_layered_strategy_without_client_dp_adds_the_distillation_strategy_under_the_reply_guard() -> None:
    from server.app import layer_strategy
    from server.distillation_strategy import DistillationStrategy
    from server.reply_guard import ReplyGuard

    config = FedKDConfig.from_mapping({})
    base = build_strategy(config, train_metrics_aggr_fn=len, evaluate_metrics_aggr_fn=len)  # type: ignore[arg-type]

    layered, user_privacy = layer_strategy(base, config, num_nodes=3)

    assert isinstance(layered, ReplyGuard) and isinstance(layered.inner, DistillationStrategy)
    assert layered.inner.inner is base and user_privacy is None


def test_round_recorder_skips_sites_without_a_test_split_and_reports_retention_as_a_ratio(tmp_path: Path) -> None:
    # Every reply carries the same keys (Flower refuses to aggregate otherwise); a site without a
    # test split sends zeros over 0 test examples and must not drag the means down.
    recorder = RoundRecorder(ResultsWriter(tmp_path, {"dataset": "x"}), lambda arrays: EvalStats(0.5, 0.75, 10),
                             _Grid(), num_rounds=1)  # type: ignore[arg-type]
    recorder.evaluate(0, ArrayRecord())
    train = [_reply(**{"num-examples": 10, "train-loss": 1.0, "train-ce": 1.0, "train-kd": 1.0,
                       "teacher-accuracy": 0.8, "test-examples": 4}),
             _reply(**{"num-examples": 5, "train-loss": 1.0, "train-ce": 1.0, "train-kd": 1.0,
                       "teacher-accuracy": 0.0, "test-examples": 0})]
    evaluate = [_reply(**{"num-examples": 4, "accuracy": 0.5, "loss": 1.0, "teacher-accuracy": 1.0, "agreement": 0.5}),
                _reply(**{"num-examples": 1, "accuracy": 0.0, "loss": 1.0, "teacher-accuracy": 0.0, "agreement": 1.0}),
                _reply(**{"num-examples": 0, "accuracy": 0.0, "loss": 0.0, "teacher-accuracy": 0.0, "agreement": 0.0})]

    train_record = recorder.aggregate_train(train, "num-examples")
    recorder.aggregate_evaluate(evaluate, "num-examples")
    recorder.evaluate(1, ArrayRecord())

    assert train_record["teacher-accuracy-mean"] == pytest.approx(0.8)
    record = json.loads((tmp_path / "results.json").read_text())["rounds"][1]
    assert record["client_accuracy_mean"] == pytest.approx(2 / 5)
    assert record["agreement_mean"] == pytest.approx((4 * 0.5 + 1.0) / 5)
    # (0.4 student) / (0.8 teacher, example-weighted): defined although one site's teacher scored 0
    assert record["retention_mean"] == pytest.approx(0.5)


def test_round_recorder_keys_epsilon_by_site_id_whatever_the_node_id(tmp_path: Path) -> None:
    # The same site under two node ids (a restarted client): one key, the site's.
    grid = _Grid()
    recorder = RoundRecorder(ResultsWriter(tmp_path, {}), lambda arrays: EvalStats(0.5, 0.75, 10),
                             grid, num_rounds=2)  # type: ignore[arg-type]
    for server_round, (node, epsilon) in enumerate([(7, 1.5), (9, 2.0)], start=1):
        recorder.aggregate_train([_reply(**{"num-examples": 10, "train-loss": 1.0, "train-ce": 1.0, "train-kd": 0.0,
                                            "node-id": node, "site-id": 2**47 + 5, "epsilon": epsilon,
                                            "privacy-scope": 1})], "num-examples")
        recorder.evaluate(server_round, ArrayRecord())

    rounds = json.loads((tmp_path / "results.json").read_text())["rounds"]
    assert [r["epsilon_per_client"] for r in rounds] == [{str(2**47 + 5): 1.5}, {str(2**47 + 5): 2.0}]


def test_reply_digest_ignores_the_site_id_as_it_ignores_the_node_id() -> None:
    from server.reply_order import reply_digest

    def reply(site: int, node: int) -> Message:
        content = _content(0.5, node)
        content["metrics"]["site-id"] = site
        return _message(node, 0, content)

    assert reply_digest(reply(2**40, 5)) == reply_digest(reply(3, 7))
    assert reply_digest(reply(3, 7)) != reply_digest(_message(7, 0, _content(1.5, 7)))


def test_round_recorder_records_each_sites_accuracy_by_site_id_skipping_sites_without_a_test_split(
        tmp_path: Path) -> None:
    recorder = RoundRecorder(ResultsWriter(tmp_path, {}), lambda arrays: EvalStats(0.5, 0.75, 10),
                             _Grid(), num_rounds=1)  # type: ignore[arg-type]
    evaluate = [_reply(**{"num-examples": 4, "accuracy": 0.5, "loss": 1.0, "site-id": 2**47 + 5}),
                _reply(**{"num-examples": 2, "accuracy": 0.25, "loss": 1.0, "site-id": 11}),
                _reply(**{"num-examples": 0, "accuracy": 0.0, "loss": 0.0, "site-id": 12}),
                _reply(**{"num-examples": 3, "accuracy": 0.9, "loss": 1.0})]  # an older client: no site-id

    metrics = recorder.aggregate_evaluate(evaluate, "num-examples")
    recorder.evaluate(1, ArrayRecord())

    record = json.loads((tmp_path / "results.json").read_text())["rounds"][0]
    assert record["client_accuracy_per_site"] == {str(2**47 + 5): 0.5, "11": 0.25}
    assert "client-accuracy-per-site" not in metrics  # a MetricRecord holds numbers only
