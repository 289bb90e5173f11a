"""Faults at the doors of teacher checkpoints, the site's caches, empty splits and the server's replies."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Error, Message, Metadata, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg
from safetensors.torch import save_file

from clients.app import non_finite_reply
from fedkd.checkpoint import CheckpointError, save_model
from fedkd.data.site import SiteData, load_site_dir
from fedkd.evaluation import evaluate
from fedkd.models import build_model
from fedkd.teacher import TeacherRecipe, obtain_teacher
from server.reply_guard import ReplyGuard
from simulations.faults.fault import Fault
from simulations.faults.inputs import good_arrays, write_site

CPU = torch.device("cpu")
RECIPE = TeacherRecipe(architecture="mlp", epochs=1, learning_rate=0.05, momentum=0.9, batch_size=32, seed=0)


def _site(folder: Path) -> SiteData:
    return load_site_dir(folder / "site", input_shape=(40,), num_classes=10)


def _model(input_shape: tuple[int, ...] = (40,)) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("mlp", input_shape=input_shape, num_classes=10)


def _checkpoint(folder: Path, *, poison: bool = False) -> None:
    write_site(folder)
    model = _model()
    if poison:
        with torch.no_grad():
            next(model.parameters())[0, 3] = math.nan
    save_model(folder / "teacher.safetensors", model, architecture="mlp", input_shape=(40,), num_classes=10)


def _teacher(path: str, *, architecture: str | None = None, max_bytes: int = 1 << 30) -> Any:
    def act(folder: Path) -> str:
        checkpoint = Path(path) if path.startswith("/dev") else folder / path
        teacher = obtain_teacher(_site(folder), cache_dir=folder / "cache", device=CPU, checkpoint=checkpoint,
                                 architecture=architecture, max_checkpoint_bytes=max_bytes)
        return f"accepted: a {teacher.architecture} teacher, logits {tuple(teacher.train_logits.shape)}"
    return act


def _huge_metadata(folder: Path) -> None:
    write_site(folder)
    tensors = {k: v.contiguous() for k, v in _model().state_dict().items()}
    save_file(tensors, folder / "teacher.safetensors", metadata={
        "format": "fedkd-model-1", "architecture": "mlp", "input_shape": "[100000, 100000]", "num_classes": "10"})


def _no_metadata(folder: Path) -> None:
    write_site(folder)
    save_file({k: v.contiguous() for k, v in _model().state_dict().items()}, folder / "teacher.safetensors")


def _wrong_tensors(folder: Path) -> None:
    write_site(folder)
    save_model(folder / "teacher.safetensors", _model((41,)), architecture="mlp", input_shape=(40,), num_classes=10)


def _garbage_checkpoint(folder: Path) -> None:
    write_site(folder)
    (folder / "teacher.safetensors").write_bytes(b"\xff" * 64)


def _cached(corrupt: str) -> Any:
    """Train and cache a teacher, then damage its ``corrupt`` cache file."""
    def prepare(folder: Path) -> None:
        write_site(folder, good_arrays(64), good_arrays(16))
        obtain_teacher(_site(folder), cache_dir=folder / "cache", device=CPU, recipe=RECIPE)
        target = next((folder / "cache" / "teachers").glob(corrupt))
        target.write_bytes(target.read_bytes()[:40])  # cut short, as by a full disk or a killed process
    return prepare


def _rebuild(folder: Path) -> str:
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("fedkd.teacher")
    logger.addHandler(handler)
    try:
        obtain_teacher(_site(folder), cache_dir=folder / "cache", device=CPU, recipe=RECIPE)
        obtain_teacher(_site(folder), cache_dir=folder / "cache", device=CPU, recipe=RECIPE)  # reads it back whole
    finally:
        logger.removeHandler(handler)
    # Cache keys are hashes of the data and recipe; the page shows where they stand.
    return " / ".join(re.sub(r"[0-9a-f]{16,}", "<key>", r) for r in records)


def _empty_test(folder: Path) -> None:
    _checkpoint(folder)
    write_site(folder, None, {"x": np.zeros((0, 40), np.float32), "y": np.zeros(0, np.int64)})


def _evaluate_empty(folder: Path) -> str:
    site = _site(folder)
    teacher = obtain_teacher(site, cache_dir=folder / "cache", device=CPU, checkpoint=folder / "teacher.safetensors")
    stats = evaluate(_model(), site.test, device=CPU)
    shape = tuple(teacher.test_logits.shape)
    return f"handled: teacher test logits {shape}, evaluation over {stats.num_examples} examples"


def _metadata(node: int) -> Metadata:
    return Metadata(run_id=1, message_id=str(node), src_node_id=node, dst_node_id=0, reply_to_message_id="",
                    group_id="1", created_at=0.0, ttl=10.0, message_type="train")


def _reply(node: int, weights: np.ndarray, **metrics: float) -> Message:
    content = RecordDict({"arrays": ArrayRecord({"w": torch.from_numpy(weights)}),
                          "metrics": MetricRecord({"num-examples": 10, **metrics})})
    return Message(metadata=_metadata(node), content=content)


def _guard(bad: Message) -> Any:
    def act(folder: Path) -> str:
        guard = ReplyGuard(FedAvg(train_metrics_aggr_fn=lambda records, key: MetricRecord()))
        good = _reply(1, np.ones(3, np.float32))
        arrays, _ = guard.aggregate_train(1, [good, bad])
        failures, dropped = guard.take()
        assert arrays is not None and np.isfinite(arrays["w"].numpy()).all()
        return f"left out ({dropped} dropped), round record failures: {json.dumps(failures)}"
    return act


def _site_refuses(folder: Path) -> str | None:
    student = _model()
    with torch.no_grad():
        next(student.parameters())[2, 1] = math.inf
    return non_finite_reply(student, {"num-examples": 10})


MODEL_FAULTS = [
    Fault("checkpoint-dev-zero", "checkpoint", "server-sent `teacher-checkpoint='/dev/zero'`", write_site,
          _teacher("/dev/zero"), "checkpoint /dev/zero is not a regular file", CheckpointError),
    Fault("checkpoint-over-limit", "checkpoint", "a checkpoint larger than the site's `max-checkpoint-bytes`",
          _checkpoint, _teacher("teacher.safetensors", max_bytes=1000),
          "over this site's limit of 1000 (node-config max-checkpoint-bytes); refused unread", CheckpointError),
    Fault("checkpoint-nan-weight", "checkpoint", "a teacher checkpoint with one NaN weight",
          lambda folder: _checkpoint(folder, poison=True), _teacher("teacher.safetensors"),
          "net.1.weight holds 1 non-finite value(s) of 4000 (first: nan at index (0, 3))", CheckpointError),
    Fault("checkpoint-huge-metadata", "checkpoint", "metadata `input_shape [100000, 100000]` (4 TB of weights)",
          _huge_metadata, _teacher("teacher.safetensors"),
          "is for inputs (100000, 100000) and 10 classes; this task needs inputs (40,)", CheckpointError),
    Fault("checkpoint-no-metadata", "checkpoint", "a checkpoint without metadata, node config "
          "`teacher-architecture='mlp'`", _no_metadata, _teacher("teacher.safetensors", architecture="mlp"),
          "accepted: a mlp teacher, logits (480, 10)", None, ("cache/*",)),
    Fault("checkpoint-no-architecture", "checkpoint", "a checkpoint without metadata and no `teacher-architecture`",
          _no_metadata, _teacher("teacher.safetensors"), "names no architecture; pass one explicitly",
          CheckpointError),
    Fault("checkpoint-wrong-tensors", "checkpoint", "a checkpoint whose tensors fit other inputs",
          _wrong_tensors, _teacher("teacher.safetensors"),
          "tensor 'net.1.weight' has shape (100, 41), 'mlp' needs (100, 40)", CheckpointError),
    Fault("checkpoint-garbage", "checkpoint", "random bytes as the teacher checkpoint", _garbage_checkpoint,
          _teacher("teacher.safetensors"), "is not a safetensors file", CheckpointError),
    Fault("cache-teacher-corrupt", "cache", "a cached teacher cut short", _cached("*[0-9a-f].safetensors"),
          _rebuild, "is corrupt", None, ("cache/teachers/*",)),
    Fault("cache-logits-corrupt", "cache", "cached teacher logits cut short", _cached("*.logits.safetensors"),
          _rebuild, "is corrupt", None, ("cache/teachers/*.logits.safetensors",)),
    Fault("split-empty-test", "split", "an empty local test split (`local-test-fraction=0.0`, or an empty "
          "`test.npz`)", _empty_test, _evaluate_empty, "evaluation over 0 examples", None, ("cache/*",)),
    Fault("reply-nan-weights", "reply", "a train reply with a NaN weight",
          lambda folder: None, _guard(_reply(7, np.array([1.0, math.nan, 1.0], np.float32))),
          '"7": "train: non-finite weights: arrays.w holds 1 non-finite value(s) of 3', None),
    Fault("reply-inf-metric", "reply", "a train reply whose `train-loss` is inf",
          lambda folder: None, _guard(_reply(7, np.ones(3, np.float32), **{"train-loss": math.inf})),
          "non-finite metric: metrics.train-loss=inf", None),
    Fault("reply-error", "reply", "an error reply (a site that failed)", lambda folder: None,
          _guard(Message(metadata=_metadata(7), error=Error(code=4002, reason="site data refused"))),
          "error reply (code 4002): site data refused", None),
    Fault("reply-negative-weight", "reply", "a train reply with `num-examples=-5`", lambda folder: None,
          _guard(_reply(7, np.ones(3, np.float32), **{"num-examples": -5})), "num-examples=-5 is negative", None),
    Fault("site-sends-inf", "reply", "a site whose student came out of training with an inf weight",
          lambda folder: None, _site_refuses, "not sent: net.1.weight holds 1 non-finite value(s)", None),
]
