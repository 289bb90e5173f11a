"""Runs that survive the server: a checkpoint after every round, and a resume from the last complete one.

After each round (once its record is written) the server replaces one file,
``checkpoint.safetensors`` in the results folder, atomically. It holds the global
student, the strategy's state (the server optimiser moments of FedAdam, FedYogi
and FedAdagrad, FedAvgM's momentum, an adaptive clipping norm, client-level DP's
accountant), the round, the RNG states of ``random``, NumPy and torch, and the
round records so far: tensors as safetensors tensors, everything else as JSON in
the file's metadata (nothing is unpickled on load). The last and the best global
students (by global accuracy) are written beside it every round.

A run with ``resume-from`` restores all of it and lets Flower's own round loop run
the remaining rounds, numbered from where the checkpoint stopped
(:class:`RoundOffset`). What the sites keep in node memory (mutual teachers, hint
adapters) is not checkpointed; the config refuses to resume such runs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from safetensors import safe_open
from safetensors.torch import save as save_tensors

from fedkd.io import write_atomic
from server.wrapped_strategy import WrappedStrategy

CHECKPOINT = "checkpoint.safetensors"
FORMAT = "fedkd-run-state-1"
# Strategy attributes that change from round to round (Flower 1.41's FedOpt family, FedAvgM, DP wrappers).
STATE_ATTRIBUTES = ("current_arrays", "m_t", "v_t", "momentum_vector", "clipping_norm", "accountant")

Evaluate = Callable[[int, ArrayRecord], MetricRecord | None]


def strategy_layers(strategy: Strategy) -> list[Strategy]:
    """``strategy`` and every strategy it wraps, outermost first (``inner`` of fedkd's, ``strategy`` of Flower's)."""
    layers = [strategy]
    while True:
        inner = vars(layers[-1]).get("inner", vars(layers[-1]).get("strategy"))
        if not isinstance(inner, Strategy):
            return layers
        layers.append(inner)


def _encode(value: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A JSON description of one attribute; its arrays go to ``tensors`` under ``prefix``."""
    if value is None or isinstance(value, int | float):
        return {"kind": "value", "value": value}
    if hasattr(value, "state_dict") and not isinstance(value, ArrayRecord):
        return {"kind": "state", "state": value.state_dict()}
    if isinstance(value, ArrayRecord):
        items = [(k, a.numpy()) for k, a in value.items()]
        kind = "arrays"
    elif isinstance(value, dict):
        items, kind = list(value.items()), "dict"
    elif isinstance(value, list):
        items, kind = [(str(i), v) for i, v in enumerate(value)], "list"
    else:
        raise TypeError(f"cannot checkpoint strategy state {prefix} of type {type(value).__name__}")
    for key, array in items:
        tensors[f"{prefix}/{key}"] = torch.from_numpy(np.ascontiguousarray(array)).clone()
    return {"kind": kind, "keys": [k for k, _ in items]}


def _decode(entry: dict[str, Any], prefix: str, tensors: dict[str, torch.Tensor], current: Any) -> Any:
    kind = entry["kind"]
    if kind == "value":
        return entry["value"]
    if kind == "state":
        current.load_state_dict(entry["state"])
        return current
    arrays = [tensors[f"{prefix}/{key}"].numpy() for key in entry["keys"]]
    if kind == "arrays":
        return ArrayRecord({k: Array(a) for k, a in zip(entry["keys"], arrays, strict=True)})
    if kind == "dict":
        return dict(zip(entry["keys"], arrays, strict=True))
    return arrays


def _rng_state(tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(keys).astype(np.int64))
    tensors["rng/torch"] = torch.get_rng_state()
    version, internal, gauss = random.getstate()
    return {"python": [version, list(internal), gauss], "numpy": [name, int(position), int(has_gauss), float(cached)]}


def _set_rng_state(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(tensors["rng/torch"])


def save_run_state(path: Path, *, server_round: int, arrays: ArrayRecord, strategy: Strategy,
                   rounds: list[dict[str, Any]], best_accuracy: float | None, config: dict[str, Any]) -> None:
    """Write the run's state after ``server_round`` of the run of ``config`` atomically to ``path``."""
    tensors = {f"global/{k}": torch.from_numpy(np.ascontiguousarray(a.numpy())).clone() for k, a in arrays.items()}
    layers = []
    for index, layer in enumerate(strategy_layers(strategy)):
        present = [name for name in STATE_ATTRIBUTES if name in vars(layer)]
        layers.append({name: _encode(getattr(layer, name), f"strategy/{index}/{name}", tensors) for name in present})
    state = {"round": server_round, "global": list(arrays.keys()), "strategy": layers, "rng": _rng_state(tensors),
             "rounds": rounds, "best_accuracy": best_accuracy, "config": config}
    write_atomic(path, save_tensors(tensors, metadata={"format": FORMAT, "state": json.dumps(state)}))


@dataclass
class RunState:
    """A checkpoint read back: the round it ends, the global student, the records so far, and what to restore."""

    server_round: int
    arrays: ArrayRecord
    rounds: list[dict[str, Any]]
    best_accuracy: float | None
    state: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def check_config(self, config: dict[str, Any]) -> None:
        """Refuse to continue the run under another config (where it is written, ``output-dir`` and
        ``run-name``, may differ: an unnamed run's name was a timestamp).

        Raises
        ------
        ValueError
            Naming every key whose value differs from the checkpointed run's.
        """
        saved = self.state["config"]
        differing = sorted(k for k in {*saved, *config} - {"output-dir", "run-name"} if saved.get(k) != config.get(k))
        if differing:
            raise ValueError("the checkpoint is of a run with another config: " + ", ".join(
                f"{k}={saved.get(k)!r} there, {config.get(k)!r} here" for k in differing))

    def restore(self, strategy: Strategy) -> None:
        """Put the strategy state and the RNG states back as they were after :attr:`server_round`.

        Raises
        ------
        ValueError
            If ``strategy`` is not layered as the checkpointed one was.
        """
        layers = strategy_layers(strategy)
        if len(layers) != len(self.state["strategy"]):
            raise ValueError(f"the checkpoint holds {len(self.state['strategy'])} strategy layers, the run has "
                             f"{len(layers)}: resume with the config the run was started with")
        for index, (layer, saved) in enumerate(zip(layers, self.state["strategy"], strict=True)):
            for name, entry in saved.items():
                setattr(layer, name, _decode(entry, f"strategy/{index}/{name}", self.tensors, getattr(layer, name)))
        _set_rng_state(self.state["rng"], self.tensors)


def load_run_state(path: Path) -> RunState:
    """Read a checkpoint written by :func:`save_run_state`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the run never finished a round).
    ValueError
        If it is not a fedkd run checkpoint.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no run checkpoint at {path}: the run finished no round to resume from")
    with safe_open(str(path), framework="pt") as reader:
        metadata = reader.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not a fedkd run checkpoint (format {metadata.get('format')!r})")
        tensors = {key: reader.get_tensor(key) for key in reader.keys()}  # noqa: SIM118 - not a dict
    state = json.loads(metadata["state"])
    arrays = ArrayRecord({k: Array(tensors[f"global/{k}"].numpy()) for k in state["global"]})
    return RunState(int(state["round"]), arrays, list(state["rounds"]), state["best_accuracy"], state, tensors)


class RoundOffset(WrappedStrategy):
    """Wraps ``inner`` so that Flower's loop, which counts from round 1, runs rounds ``offset + 1``, ``offset + 2``, ...

    Everything the strategy sees (configure and aggregate hooks, so the clients'
    config and seeds too) carries the true round number.
    """

    def __init__(self, inner: Strategy, offset: int) -> None:
        self.inner = inner
        self.offset = offset

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        return self.inner.configure_train(server_round + self.offset, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return self.inner.aggregate_train(server_round + self.offset, replies)

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round + self.offset, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.inner.aggregate_evaluate(server_round + self.offset, replies)

    def evaluate_fn(self, evaluate: Evaluate) -> Evaluate:
        """``evaluate`` at the true round numbers; the start round (already recorded) is skipped."""
        def shifted(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            if server_round == 0 and self.offset > 0:
                return None
            return evaluate(server_round + self.offset, arrays)
        return shifted


class Checkpointer:
    """After each round's evaluation: write the last and best global students, then the run's checkpoint.

    Parameters
    ----------
    folder : pathlib.Path
        The results folder.
    save_student : callable
        Writes global arrays as a model checkpoint at a path.
    rounds : callable
        The round records so far (the results writer's).
    config : dict
        The run's config, stored with the checkpoint.
    resumed : RunState, optional
        The checkpoint a resumed run starts from (its best accuracy carries over).
    """

    def __init__(self, folder: Path, save_student: Callable[[ArrayRecord, Path], None],
                 rounds: Callable[[], list[dict[str, Any]]], config: dict[str, Any],
                 resumed: RunState | None = None) -> None:
        self.folder = folder
        self.config = config
        self.save_student = save_student
        self.rounds = rounds
        self.best_accuracy = resumed.best_accuracy if resumed is not None else None
        self.strategy: Strategy | None = None

    def wrap(self, evaluate: Evaluate) -> Evaluate:
        """``evaluate``, then the students and the checkpoint of the round."""
        def evaluated(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            metrics = evaluate(server_round, arrays)
            self.save_student(arrays, self.folder / "student.safetensors")
            accuracy = float(metrics["accuracy"]) if metrics is not None else None  # type: ignore[arg-type]
            if accuracy is not None and (self.best_accuracy is None or accuracy > self.best_accuracy):
                self.best_accuracy = accuracy
                self.save_student(arrays, self.folder / "student-best.safetensors")
            if self.strategy is not None:
                save_run_state(self.folder / CHECKPOINT, server_round=server_round, arrays=arrays,
                               strategy=self.strategy, rounds=self.rounds(), best_accuracy=self.best_accuracy,
                               config=self.config)
            return metrics
        return evaluated


def run_rounds(strategy: Strategy, grid: Grid, initial: ArrayRecord, *, num_rounds: int, config: ConfigRecord,
               evaluate: Evaluate, checkpointer: Checkpointer, resumed: RunState | None = None) -> ArrayRecord:
    """Flower's round loop over the rounds left, checkpointing after each; the final global arrays."""
    offset = 0
    if resumed is not None:
        resumed.restore(strategy)
        initial, offset = resumed.arrays, resumed.server_round
    checkpointer.strategy = strategy
    if offset >= num_rounds:
        return initial
    shifted = RoundOffset(strategy, offset)
    result = shifted.start(grid=grid, initial_arrays=initial, num_rounds=num_rounds - offset, train_config=config,
                           evaluate_config=config, evaluate_fn=shifted.evaluate_fn(checkpointer.wrap(evaluate)))
    return result.arrays if len(result.arrays) else initial
