"""Message inspection: every reply a client sends holds the student and scalars, nothing else.

The ClientApp is called directly with real Flower messages (no SuperLink): one train
message, the same train message again, and one evaluate message; every reply is then
inspected against the site's private teacher and data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict

import clients.site
from clients.app import app
from clients.site import load_site, load_teacher
from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.distill.schedules import round_values
from fedkd.node_config import NodeConfig
from fedkd.student import build_student
from fedkd.teacher import Teacher
from tests.flower_task import inside_task

NODE_CONFIG = {"partition-id": 0, "num-partitions": 3}
# node-id is sent too: the server uses it to attribute each site's privacy budget (server/recorder.py);
# simulated-site tells the server's plot whether a partitioner made the data.
TRAIN_METRICS = {"num-examples", "train-loss", "train-ce", "train-kd", "teacher-accuracy", "node-id", "kd-temperature",
                 "kd-alpha", "test-examples", "simulated-site"}
EVALUATE_METRICS = {"num-examples", "accuracy", "loss", "teacher-accuracy", "agreement", "site-id"}


@dataclass(frozen=True)
class Exchange:
    """The messages sent to one site, its replies, and what the site keeps private."""

    config: FedKDConfig
    student: torch.nn.Module
    train: Message
    train_again: Message
    evaluate: Message
    train_after_evaluate: Message
    site: SiteData
    teacher: Teacher


def _clear_site_caches() -> None:
    clients.site._sites.clear()
    clients.site._teachers.clear()


def _ask(config: FedKDConfig, kind: str, student: torch.nn.Module) -> Message:
    content = RecordDict({
        "arrays": ArrayRecord({k: v.detach().clone() for k, v in student.state_dict().items()}),
        "config": ConfigRecord({**config.to_dict(), "server-round": 1, **round_values(config, 1).to_record()}),
    })
    message = Message(content=content, dst_node_id=1, message_type=kind)
    context = Context(run_id=1, node_id=1, node_config=dict(NODE_CONFIG), state=RecordDict(), run_config={})
    reply = app(message, context)
    assert not reply.has_error(), reply.error
    return reply


@pytest.fixture(scope="module")
def exchange(cache_root: Path) -> Iterator[Exchange]:
    # A Message can only be built inside a task (tests/flower_task.py): the module's exchange runs in one.
    with inside_task():
        _clear_site_caches()
        # The site's cache is the session's temporary cache folder, where MNIST-1D is already loaded.
        # The teacher (cnn1d) has parameter names and shapes the student (mlp) lacks.
        config = FedKDConfig.from_mapping({"teacher-epochs": 2, "teacher-pretraining": "none", "local-epochs": 1,
                                           "cache-dir": str(cache_root)})
        try:
            torch.manual_seed(0)
            student = build_student(config)
            train = _ask(config, "train", student)
            _clear_site_caches()  # the second call re-reads site and teacher (from the disk cache)
            train_again = _ask(config, "train", student)
            evaluate = _ask(config, "evaluate", student)
            train_after_evaluate = _ask(config, "train", student)  # same actor, caches warm, an evaluation before
            site = load_site(config, NodeConfig.from_mapping(NODE_CONFIG))
            teacher = load_teacher(config, NodeConfig.from_mapping(NODE_CONFIG), site)
            yield Exchange(config, student, train, train_again, evaluate, train_after_evaluate, site, teacher)
        finally:
            _clear_site_caches()


def _replies(exchange: Exchange) -> list[Message]:
    return [exchange.train, exchange.train_again, exchange.evaluate]


def _sent_arrays(reply: Message) -> list[npt.NDArray[np.generic]]:
    return [a.numpy() for record in reply.content.array_records.values() for a in record.values()]


def _private_arrays(exchange: Exchange) -> dict[str, npt.NDArray[np.generic]]:
    private = {f"teacher weight {k}": v.numpy() for k, v in exchange.teacher.model.state_dict().items()}
    private["teacher train logits"] = exchange.teacher.train_logits.numpy()
    private["teacher test logits"] = exchange.teacher.test_logits.numpy()
    for split in ("train", "test"):
        data = getattr(exchange.site, split)
        private[f"site {split} inputs"], private[f"site {split} labels"] = data.x, data.y
    return private


def _rows(array: npt.NDArray[np.generic], width: int) -> set[bytes]:
    """The rows of ``array`` read as float32 rows of ``width`` values (empty if it does not divide)."""
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
    if flat.size == 0 or flat.size % width:
        return set()
    return {row.tobytes() for row in flat.reshape(-1, width)}


def _cross_entropy(model: torch.nn.Module, data: SiteData) -> float:
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(data.train.x)).double().numpy()
    shifted = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(shifted)), data.train.y]))


def test_client_train_reply_holds_exactly_one_array_record_shaped_like_the_student(exchange: Exchange) -> None:
    content = exchange.train.content
    student = exchange.student.state_dict()

    assert set(content) == {"arrays", "metrics"}
    assert list(content.array_records) == ["arrays"]
    returned = content.array_records["arrays"]
    assert list(returned) == list(student)
    assert {k: (tuple(v.shape), v.numpy().dtype) for k, v in returned.items()} == {
        k: (tuple(v.shape), v.numpy().dtype) for k, v in student.items()}


def test_client_train_reply_holds_no_teacher_parameter_name_or_shape(exchange: Exchange) -> None:
    student = {k: tuple(v.shape) for k, v in exchange.student.state_dict().items()}
    teacher = {k: tuple(v.shape) for k, v in exchange.teacher.model.state_dict().items()}
    teacher_only_names = set(teacher) - set(student)
    teacher_only_shapes = set(teacher.values()) - set(student.values())
    assert teacher_only_names and teacher_only_shapes  # the check below is not vacuous

    for reply in _replies(exchange):
        for record in reply.content.array_records.values():
            assert not teacher_only_names & set(record)
            assert not teacher_only_shapes & {tuple(a.shape) for a in record.values()}


def test_client_replies_hold_no_teacher_weight_teacher_logit_or_site_data(exchange: Exchange) -> None:
    private = _private_arrays(exchange)
    sent = [a for reply in _replies(exchange) for a in _sent_arrays(reply)]
    assert sent

    for name, secret in private.items():
        for array in sent:
            same_shape = array.shape == secret.shape
            assert not (same_shape and np.allclose(array, secret)), name
            if secret.ndim >= 2:  # no single row of a private matrix appears inside a sent array either
                assert not _rows(secret, secret.shape[-1]) & _rows(array, secret.shape[-1]), name


def test_client_evaluate_reply_holds_only_metrics(exchange: Exchange) -> None:
    content = exchange.evaluate.content

    assert set(content) == {"metrics"}
    assert not content.array_records and not content.config_records


def test_client_replies_send_no_config_record(exchange: Exchange) -> None:
    for reply in _replies(exchange):
        assert not reply.content.config_records


def test_client_metric_records_hold_only_scalar_numbers_with_the_expected_keys(exchange: Exchange) -> None:
    for reply, keys in ((exchange.train, TRAIN_METRICS), (exchange.evaluate, EVALUATE_METRICS)):
        (metrics,) = reply.content.metric_records.values()
        assert isinstance(metrics, MetricRecord)
        assert set(metrics) == keys
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values())
    (train,) = exchange.train.content.metric_records.values()
    assert train["simulated-site"] == 1  # NODE_CONFIG names a partition


def test_client_metrics_equal_hand_counts_on_the_site(exchange: Exchange) -> None:
    # Prepare: counts made here from the site's data, the teacher's logits and the sent student.
    site, teacher = exchange.site, exchange.teacher
    teacher_right = int((teacher.test_logits.numpy().argmax(axis=1) == site.test.y).sum())
    with torch.no_grad():
        student_logits = exchange.student.eval()(torch.from_numpy(site.test.x)).numpy()
    student_right = int((student_logits.argmax(axis=1) == site.test.y).sum())
    train = exchange.train.content.metric_records["metrics"]
    evaluate = exchange.evaluate.content.metric_records["metrics"]

    # Assert
    assert train["num-examples"] == len(site.train) and evaluate["num-examples"] == len(site.test)
    assert len(site.test) == round(exchange.config.local_test_fraction * (len(site.train) + len(site.test)))
    assert train["teacher-accuracy"] == evaluate["teacher-accuracy"] == pytest.approx(teacher_right / len(site.test))
    assert evaluate["accuracy"] == pytest.approx(student_right / len(site.test))
    assert evaluate["site-id"] == int(site.train.fingerprint()[:12], 16)  # the id its epsilon is keyed by
    alpha = exchange.config.kd_alpha
    assert train["train-loss"] == pytest.approx(alpha * train["train-ce"] + (1 - alpha) * train["train-kd"], rel=1e-5)
    assert train["node-id"] == 1
    assert (train["kd-temperature"], train["kd-alpha"]) == (exchange.config.kd_temperature, alpha)
    teacher_predictions = teacher.test_logits.numpy().argmax(axis=1)
    agree = int((student_logits.argmax(axis=1) == teacher_predictions).sum())
    assert evaluate["agreement"] == pytest.approx(agree / len(site.test))


def test_client_trained_student_differs_from_the_sent_one_and_fits_the_site_better(exchange: Exchange) -> None:
    sent = exchange.student.state_dict()
    returned = exchange.train.content.array_records["arrays"].to_torch_state_dict()
    trained = build_student(exchange.config)
    trained.load_state_dict(returned)

    assert all(not torch.equal(returned[k], v) for k, v in sent.items())
    assert _cross_entropy(trained, exchange.site) < _cross_entropy(exchange.student, exchange.site)


def test_client_train_twice_with_identical_inputs_gives_bitwise_identical_replies(exchange: Exchange) -> None:
    first, second = exchange.train.content, exchange.train_again.content

    assert list(first.array_records["arrays"]) == list(second.array_records["arrays"])
    for key, array in first.array_records["arrays"].items():
        assert array.numpy().tobytes() == second.array_records["arrays"][key].numpy().tobytes(), key
    assert dict(first.metric_records["metrics"]) == dict(second.metric_records["metrics"])


def test_client_train_after_an_evaluation_gives_bitwise_the_reply_without_one(exchange: Exchange) -> None:
    # Federated evaluation (every `evaluate-every` rounds) must not change what a site trains: the server's
    # round records and the CE-only baseline's digest treat evaluate-every as reporting only.
    first, later = exchange.train.content, exchange.train_after_evaluate.content

    for key, array in first.array_records["arrays"].items():
        assert array.numpy().tobytes() == later.array_records["arrays"][key].numpy().tobytes(), key
    assert dict(first.metric_records["metrics"]) == dict(later.metric_records["metrics"])


def test_client_replies_carry_the_message_type_they_answer(exchange: Exchange) -> None:
    assert exchange.train.metadata.message_type == "train"
    assert exchange.evaluate.metadata.message_type == "evaluate"


def test_client_causal_lm_train_reply_holds_only_changed_lora_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the causal-lm task on a tiny Llama (the code path of SmolLM2) and real BBC business text
    from fedkd.llm.extra import missing_llm_packages

    if missing_llm_packages():
        pytest.skip(f"the 'llm' extra is not installed (missing {', '.join(missing_llm_packages())})")
    import clients.lm_round as lm_round
    from fedkd.llm.student import adapter_state, make_lora_student
    from tests.llm.tiny import WordTokenizer, tiny_llama_model

    base = tiny_llama_model()
    monkeypatch.setattr(lm_round, "base_model", lambda config, node: (base, WordTokenizer()))
    monkeypatch.setattr(lm_round, "_sites", {})
    monkeypatch.setattr(lm_round, "_students", {})
    config = FedKDConfig.from_mapping({
        "task": "causal-lm", "dataset": "bbc-news", "lm-site-articles": 8, "lm-sequence-length": 16,
        "lm-local-steps": 2, "lm-teacher-steps": 2, "batch-size": 2, "lm-learning-rate": 0.01,
        "lora-rank": 2, "lora-alpha": 4, "cache-dir": str(tmp_path), "student-device": "cpu", "teacher-device": "cpu"})
    sent = adapter_state(make_lora_student(base, rank=2, alpha=4, targets=("q_proj", "v_proj"), seed=0))
    with inside_task():
        content = RecordDict({"arrays": ArrayRecord(sent),  # type: ignore[arg-type]
                              "config": ConfigRecord({**config.to_dict(), "server-round": 1,
                                                      **round_values(config, 1).to_record()})})
        context = Context(run_id=1, node_id=1, node_config={"partition-id": 0, "num-partitions": 5},
                          state=RecordDict(), run_config={})

        # Execute
        reply = app(Message(content=content, dst_node_id=1, message_type="train"), context)
        evaluation = app(Message(content=content, dst_node_id=1, message_type="evaluate"), context)

    # Assert: one array record with exactly the adapter names and shapes, changed by training; scalars only
    assert not reply.has_error() and not evaluation.has_error(), (reply.error, evaluation.error)
    assert list(reply.content.array_records) == ["arrays"] and not reply.content.config_records
    returned = reply.content.array_records["arrays"].to_torch_state_dict()
    assert set(returned) == set(sent) and all(".lora_A." in k or ".lora_B." in k for k in returned)
    assert all(returned[k].shape == sent[k].shape for k in sent)
    assert any(not torch.equal(returned[k], sent[k]) for k in sent)
    base_names = set(base.state_dict())
    assert not any(k.replace("base_model.model.", "") in base_names for k in returned)
    metrics = reply.content.metric_records["metrics"]
    assert {"num-examples", "train-loss", "kd-alpha", "kd-temperature"} <= set(metrics)
    assert all(isinstance(v, int | float) for v in metrics.values())
    assert metrics["num-examples"] == 8 - round(0.2 * 8)
    assert not evaluation.content.array_records
    assert evaluation.content.metric_records["metrics"]["perplexity"] > 1.0
