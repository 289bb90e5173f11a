"""A site under local DP, driven through the real ClientApp: budgets, restarts, scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

import clients.site
from clients.app import BUDGET_SPENT, app
from clients.privacy import site_id
from clients.site_policy import SITE_REFUSED
from fedkd.config import FedKDConfig
from fedkd.distill.schedules import round_values
from fedkd.privacy.ledger import PrivacyLedger
from fedkd.student import build_student
from tests.flower_task import inside_task

NODE = {"partition-id": 0, "num-partitions": 4}


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    clients.site._sites.clear()
    clients.site._teachers.clear()
    with inside_task(run_id=7):
        yield


def _config(tmp_path: Path, **overrides: Any) -> FedKDConfig:
    values = {"local-dp": True, "teacher-epochs": 3,
              "teacher-pretraining": "none", "local-epochs": 1, "num-server-rounds": 3,
              "cache-dir": str(tmp_path / "cache"), **overrides}
    return FedKDConfig.from_mapping(values)


def _message(config: FedKDConfig, server_round: int, kind: str = "train") -> Message:
    arrays = ArrayRecord(build_student(config).state_dict())
    record = ConfigRecord({**config.to_dict(), "server-round": server_round,
                           **round_values(config, server_round).to_record()})
    return Message(content=RecordDict({"arrays": arrays, "config": record}), dst_node_id=1, message_type=kind)


def _context(run_id: int = 7, **node: Any) -> Context:
    return Context(run_id=run_id, node_id=1, node_config={**NODE, **node}, state=RecordDict(), run_config={})


def _restart() -> None:
    """A new client process: no memory, no node state; only the disk remains."""
    clients.site._sites.clear()
    clients.site._teachers.clear()


def _epsilon(reply: Message) -> float:
    return float(reply.content.metric_records["metrics"]["epsilon"])


def test_target_epsilon_run_ends_within_target_and_then_stops_training(tmp_path: Path) -> None:
    config = _config(tmp_path, **{"dp-target-epsilon": 2.0})
    context = _context()

    replies = [app(_message(config, r), context) for r in (1, 2, 3)]
    extra = app(_message(config, 4), context)
    evaluation = app(_message(config, 4, "evaluate"), context)

    epsilons = [_epsilon(r) for r in replies]
    assert epsilons == sorted(epsilons) and epsilons[0] > 0
    assert 1.8 <= epsilons[-1] <= 2.0  # the planned run lands at (and not over) the target
    assert extra.has_error() and extra.error.code == BUDGET_SPENT
    assert "privacy budget spent" in extra.error.reason
    assert not evaluation.has_error()  # a spent site keeps answering evaluation
    assert 0 <= evaluation.content.metric_records["metrics"]["accuracy"] <= 1


def test_restarted_client_keeps_its_epsilon(tmp_path: Path) -> None:
    config = _config(tmp_path, **{"dp-noise-multiplier": 1.2})

    first = app(_message(config, 1), _context())
    clients.site._sites.clear()  # a new process: no memory, no node state; only the disk remains
    clients.site._teachers.clear()
    second = app(_message(config, 2), _context())

    ledger = PrivacyLedger("rdp")
    for _ in range(2):
        ledger.record(*_history(first)[0])
    assert _epsilon(second) > _epsilon(first)
    assert _epsilon(second) == pytest.approx(ledger.epsilon(1e-5), rel=1e-9)


def _history(reply: Message) -> list[tuple[float, float, int]]:
    metrics = reply.content.metric_records["metrics"]
    return list(zip(metrics["dp-history-noise"], metrics["dp-history-sample-rate"],  # type: ignore[arg-type]
                    metrics["dp-history-steps"], strict=True))


def test_reported_history_recomputes_the_reported_epsilon(tmp_path: Path) -> None:
    config = _config(tmp_path, **{"teacher-dp": True, "teacher-dp-noise-multiplier": 3.0})
    context = _context()
    app(_message(config, 1), context)

    reply = app(_message(config, 2), context)

    metrics = reply.content.metric_records["metrics"]
    history = _history(reply)
    assert metrics["dp-history-teacher-entries"] == 1 and len(history) == 2
    assert _epsilon(reply) == pytest.approx(PrivacyLedger("rdp", history).epsilon(1e-5), rel=1e-9)
    assert metrics["student-epsilon"] < metrics["epsilon"]  # the teacher's share is composed in
    assert metrics["privacy-scope"] == 2


def test_non_private_teacher_is_reported_as_not_covered(tmp_path: Path) -> None:
    reply = app(_message(_config(tmp_path), 1), _context())

    assert reply.content.metric_records["metrics"]["privacy-scope"] == 1
    assert reply.content.metric_records["metrics"]["dp-history-teacher-entries"] == 0


def test_new_run_on_the_same_data_continues_the_epsilon_under_one_site_id(tmp_path: Path) -> None:
    config = _config(tmp_path, **{"dp-noise-multiplier": 1.2})
    run_a = [app(_message(config, r), _context(run_id=7)) for r in (1, 2)]
    _restart()

    run_b = app(_message(config, 1), _context(run_id=8))

    ledger = PrivacyLedger("rdp")
    for _ in range(3):
        ledger.record(*_history(run_a[0])[0])
    assert _epsilon(run_b) > _epsilon(run_a[-1]) > _epsilon(run_a[0])
    assert _epsilon(run_b) == pytest.approx(ledger.epsilon(1e-5), rel=1e-9)
    ids = {int(r.content.metric_records["metrics"]["site-id"]) for r in [*run_a, run_b]}  # type: ignore[call-overload]
    assert ids == {site_id(next(iter(clients.site._sites.values())))}
    assert len(list((tmp_path / "cache" / "privacy" / "sites").glob("*.json"))) == 1


def test_per_run_ledger_starts_each_simulated_run_from_zero(tmp_path: Path) -> None:
    config = _config(tmp_path, **{"dp-noise-multiplier": 1.2, "dp-ledger": "run"})
    first = app(_message(config, 1), _context(run_id=7))

    second = app(_message(config, 1), _context(run_id=8))

    assert _epsilon(second) == _epsilon(first) > 0


def test_site_lifetime_budget_spent_refuses_training_in_a_later_run(tmp_path: Path) -> None:
    config = _config(tmp_path, **{"dp-noise-multiplier": 1.2})
    first = _epsilon(app(_message(config, 1), _context(run_id=7)))
    node = {"lifetime-epsilon": first}  # spent by the first round

    later = app(_message(config, 1), _context(run_id=8, **node))
    roomy = app(_message(config, 1), _context(run_id=9, **{"lifetime-epsilon": 10 * first}))

    assert later.has_error() and later.error.code == BUDGET_SPENT
    assert f"epsilon {first:.4f} used of {first} (the site's lifetime-epsilon)" in later.error.reason
    assert not app(_message(config, 1, "evaluate"), _context(run_id=8, **node)).has_error()
    assert _epsilon(roomy) > first  # the refused round spent nothing: this is the data's second round


def test_site_refuses_noise_below_its_floor_and_delta_not_below_one_over_n(tmp_path: Path) -> None:
    low_noise = _config(tmp_path, **{"dp-noise-multiplier": 0.0})
    wide_delta = _config(tmp_path, **{"dp-delta": 0.5})

    floor = app(_message(low_noise, 1), _context(**{"min-noise-multiplier": 0.5}))
    delta = app(_message(wide_delta, 1), _context())

    assert floor.has_error() and floor.error.code == SITE_REFUSED
    assert "noise multiplier 0 is below this site's min-noise-multiplier=0.5" in floor.error.reason
    assert delta.has_error() and delta.error.code == SITE_REFUSED
    assert "dp-delta=0.5 must be below 1/n" in delta.error.reason
    assert not list((tmp_path / "cache" / "privacy").rglob("*.json"))  # nothing was spent or recorded


def test_ledger_lock_makes_a_second_round_on_the_same_data_wait_for_the_first(tmp_path: Path) -> None:
    import threading
    import time

    from clients.privacy import ledger_lock

    order: list[str] = []

    def second() -> None:
        with ledger_lock(tmp_path / "site.json"):
            order.append("second")

    with ledger_lock(tmp_path / "site.json"):
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.3)
        order.append("first")
    waiting.join(timeout=10)

    assert order == ["first", "second"]


@pytest.mark.parametrize("values, node_values, source, scope", [
    ({"teacher-finetune-epochs": 0}, {}, "checkpoint", 4),  # the public-pool teacher, never on the site's records
    ({}, {}, "fine-tuned", 1),  # the public-pool teacher fine-tuned on the shard without DP
    ({"teacher-pretraining": "none"}, {}, "trained", 1),
    ({"teacher-finetune-epochs": 0}, {"teacher-checkpoint": "/t.safetensors"}, "checkpoint", 1),  # undeclared
    ({"teacher-finetune-epochs": 0}, {"teacher-checkpoint": "/t.safetensors", "teacher-public": True},
     "checkpoint", 3),
])
def test_privacy_scope_says_the_epsilon_covers_every_record_only_where_the_teacher_never_saw_them(
        values: dict[str, Any], node_values: dict[str, Any], source: str, scope: int) -> None:
    import torch

    from clients.privacy import privacy_scope
    from fedkd.node_config import NodeConfig
    from fedkd.teacher import Teacher

    config = FedKDConfig.from_mapping({"local-dp": True, **values})
    node = NodeConfig.from_mapping({"partition-id": 0, "num-partitions": 2, **node_values})
    teacher = Teacher(torch.nn.Linear(1, 1), "cnn1d", source, "k", torch.zeros(1), torch.zeros(1))

    assert privacy_scope(config, teacher, node) == scope
