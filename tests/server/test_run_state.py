"""Run checkpoints: a run stopped after round k and resumed equals the uninterrupted run, bit for bit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg, Strategy

from fedkd.config import FedKDConfig
from fedkd.seeding import seed_everything
from server.app import layer_strategy
from server.run_state import CHECKPOINT, Checkpointer, RoundOffset, load_run_state, run_rounds, strategy_layers
from server.strategy import build_strategy
from tests.flower_task import inside_task
from tests.in_process_grid import InProcessGrid

NODES = (11, 12, 13)


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    with inside_task(run_id=7):
        yield


class _Sites(InProcessGrid):
    """Three sites that move the student towards their own target; deterministic given the round and arrays."""

    def __init__(self) -> None:
        super().__init__(NODES)
        self.rounds: list[int] = []

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return [self._answer(m) for m in messages]

    def _answer(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        config = message.content.config_records["config"]
        if message.metadata.message_type.startswith("train"):
            self.rounds.append(int(config["server-round"]))  # type: ignore[call-overload]
            arrays = {k: a.numpy() for k, a in message.content.array_records["arrays"].items()}
            moved = {k: (a + 0.3 * (node / 10 - a) + 0.01 * int(config["server-round"])).astype(np.float32)  # type: ignore[call-overload]
                     for k, a in arrays.items()}
            metrics = MetricRecord({"num-examples": node, "dp-weight": 1})
            return Message(RecordDict({"arrays": ArrayRecord({k: _array(v) for k, v in moved.items()}),
                                       "metrics": metrics}), reply_to=message)
        return Message(RecordDict({"metrics": MetricRecord({"num-examples": node, "dp-weight": 1, "accuracy": 0.5})}),
                       reply_to=message)


def _array(values: np.ndarray) -> Any:
    from flwr.app import Array

    return Array(values)


def _start(config: FedKDConfig) -> tuple[Strategy, ArrayRecord]:
    seed_everything(config.seed)
    strategy = build_strategy(config, train_metrics_aggr_fn=lambda r, k: MetricRecord(),
                              evaluate_metrics_aggr_fn=lambda r, k: MetricRecord())
    layered, _ = layer_strategy(strategy, config, num_nodes=len(NODES))
    initial = ArrayRecord({"w": _array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)),
                           "b": _array(np.zeros(4, dtype=np.float32))})
    return layered, initial


def _run(folder: Path, config: FedKDConfig, num_rounds: int, resume: bool = False) -> tuple[ArrayRecord, list[int]]:
    strategy, initial = _start(config)
    records: list[dict[str, Any]] = []
    saved: list[tuple[Path, ArrayRecord]] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        # The accuracy draws from NumPy's global RNG, as DP noise does: a resume must restore it.
        accuracy = float(np.random.default_rng(server_round).random() + np.random.random())
        records.append({"round": server_round, "accuracy": accuracy})
        return MetricRecord({"accuracy": accuracy})

    resumed = load_run_state(folder / CHECKPOINT) if resume else None
    if resumed is not None:
        records.extend(resumed.rounds)
    grid = _Sites()
    checkpointer = Checkpointer(folder, lambda arrays, path: saved.append((path, arrays)), lambda: records,
                                config.to_dict(), resumed)
    final = run_rounds(strategy, grid, initial, num_rounds=num_rounds, config=ConfigRecord(config.to_dict()),
                       evaluate=evaluate, checkpointer=checkpointer, resumed=resumed)
    return final, sorted(set(grid.rounds))


@pytest.mark.parametrize("values", [{"strategy": "fedadam"}, {"strategy": "fedavgm", "server-momentum": 0.5},
                                    {"strategy": "fedyogi"}, {"client-dp": "server-fixed"},
                                    {"client-dp": "server-adaptive", "client-dp-noise-multiplier": 0.5}])
def test_run_resumed_after_round_two_equals_the_uninterrupted_run_bit_for_bit(tmp_path: Path,
                                                                              values: dict[str, Any]) -> None:
    config = FedKDConfig.from_mapping({"num-server-rounds": 4, **values})
    whole, whole_rounds = _run(tmp_path / "whole", config, 4)
    _run(tmp_path / "cut", config, 2)  # stops after round 2, as a killed server would

    resumed, resumed_rounds = _run(tmp_path / "cut", config, 4, resume=True)

    assert whole_rounds == [1, 2, 3, 4] and resumed_rounds == [3, 4]
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert np.array_equal(whole[key].numpy(), resumed[key].numpy()), key
    state = load_run_state(tmp_path / "cut" / CHECKPOINT)
    assert state.server_round == 4 and [r["round"] for r in state.rounds] == [0, 1, 2, 3, 4]
    assert state.rounds == load_run_state(tmp_path / "whole" / CHECKPOINT).rounds


def test_checkpoint_holds_the_strategy_moments_and_dp_accountant(tmp_path: Path) -> None:
    _run(tmp_path, FedKDConfig.from_mapping({"num-server-rounds": 2, "strategy": "fedadam"}), 2)
    fixed = FedKDConfig.from_mapping({"num-server-rounds": 2, "client-dp": "server-fixed"})
    _run(tmp_path / "dp", fixed, 2)

    adam = load_run_state(tmp_path / CHECKPOINT).state["strategy"]
    dp = load_run_state(tmp_path / "dp" / CHECKPOINT)

    assert {"m_t", "v_t", "current_arrays"} <= set(adam[-1])
    accountant = next(layer["accountant"] for layer in dp.state["strategy"] if "accountant" in layer)
    assert sum(c["count"] for c in accountant["state"]["compositions"]) == 2
    strategy, _ = _start(fixed)
    dp.restore(strategy)
    wrapper = next(layer for layer in strategy_layers(strategy) if "accountant" in vars(layer))
    assert wrapper.accountant.num_releases == 2  # type: ignore[attr-defined]


def test_checkpoint_of_another_config_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = FedKDConfig.from_mapping({"num-server-rounds": 2})
    _run(tmp_path, config, 2)

    with pytest.raises(ValueError, match=r"kd-alpha=0.5 there, 0.3 here"):
        load_run_state(tmp_path / CHECKPOINT).check_config({**config.to_dict(), "kd-alpha": 0.3})
    load_run_state(tmp_path / CHECKPOINT).check_config({**config.to_dict(), "run-name": "elsewhere"})


def test_load_run_state_without_a_checkpoint_says_no_round_finished(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="finished no round"):
        load_run_state(tmp_path / CHECKPOINT)


def test_round_offset_numbers_rounds_from_the_checkpoint_and_skips_the_recorded_start() -> None:
    seen: list[int] = []
    shifted = RoundOffset(FedAvg(), 2)

    evaluate = shifted.evaluate_fn(lambda r, a: seen.append(r) or MetricRecord())  # type: ignore[func-returns-value]
    results = [evaluate(r, ArrayRecord()) for r in (0, 1, 2)]

    assert seen == [3, 4] and results[0] is None


def test_checkpointer_writes_the_last_student_every_round_and_the_best_when_it_improves(tmp_path: Path) -> None:
    saved: list[tuple[str, float]] = []
    accuracies = iter([0.2, 0.6, 0.4])
    checkpointer = Checkpointer(tmp_path, lambda arrays, path: saved.append((path.name, float(
        arrays["a"].numpy()[0]))), lambda: [], {})
    evaluate = checkpointer.wrap(lambda r, a: MetricRecord({"accuracy": next(accuracies)}))

    for server_round in range(3):
        evaluate(server_round, ArrayRecord({"a": _array(np.array([server_round], dtype=np.float32))}))

    assert saved == [("student.safetensors", 0.0), ("student-best.safetensors", 0.0),
                     ("student.safetensors", 1.0), ("student-best.safetensors", 1.0), ("student.safetensors", 2.0)]
    assert checkpointer.best_accuracy == 0.6
