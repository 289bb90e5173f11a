"""TensorBoard event files: every number of the round records, at its round, read back by TensorBoard itself."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import fedkd.event_log
from fedkd.event_log import EventLog, scalars, tag_of, wait_to_sort_last
from fedkd.results import ResultsWriter

ROUNDS = [
    {"round": 0, "global_accuracy": 0.1, "global_loss": 2.3, "bytes_sent": 0, "bytes_received": 0,
     "round_seconds": 0.1, "failures": {}, "replies_dropped": 0},
    {"round": 1, "global_accuracy": 0.4, "global_loss": 1.5, "client_accuracy_mean": 0.35,
     "client_accuracy_per_site": {"17": 0.3, "42": 0.4}, "epsilon_max": 2.5,
     "epsilon_per_client": {"17": 2.5, "42": 2.0}, "privacy_scope": "record level",
     "bytes_sent": 1000, "bytes_received": 900, "round_seconds": 3.5, "failures": {"9": "timeout"}},
    {"round": 2, "global_accuracy": 0.5, "global_loss": 1.2, "client_accuracy_mean": 0.45,
     "client_accuracy_per_site": {"17": 0.5, "42": 0.4}, "epsilon_max": float("inf"),
     "epsilon_per_client": {"17": float("inf"), "42": 3.0}, "user_epsilon": None,
     "bytes_sent": 1000, "bytes_received": 950, "round_seconds": 2.5, "failures": {}},
]


def _read(folder: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_results_writer_rounds_are_scalars_of_the_event_file_at_their_round(tmp_path: Path) -> None:
    # Prepare
    writer = ResultsWriter(tmp_path / "run", {"run-name": "run"}, plot_interval=1e9)

    # Execute
    for record in ROUNDS:
        writer.append(record, final=record["round"] == 2)

    # Assert: global, per-site accuracy and epsilon, bytes and seconds, each at its round.
    scalars_read = _read(tmp_path / "run" / "tensorboard")
    assert scalars_read["global/global_accuracy"] == [(0, pytest.approx(0.1)), (1, pytest.approx(0.4)),
                                                     (2, pytest.approx(0.5))]
    assert [s for s, _ in scalars_read["global/global_loss"]] == [0, 1, 2]
    assert scalars_read["client_accuracy_per_site/17"] == [(1, pytest.approx(0.3)), (2, pytest.approx(0.5))]
    assert scalars_read["epsilon_per_client/42"] == [(1, pytest.approx(2.0)), (2, pytest.approx(3.0))]
    assert scalars_read["epsilon_per_client/17"][1] == (2, float("inf"))  # stored as "inf" in results.json
    assert scalars_read["cost/bytes_received"] == [(0, 0.0), (1, 900.0), (2, 950.0)]
    assert scalars_read["cost/round_seconds"][1] == (1, pytest.approx(3.5))
    assert scalars_read["privacy/epsilon_max"][0] == (1, pytest.approx(2.5))
    # Text, empty values and failure reasons are not scalars.
    assert not any(tag.startswith(("failures", "other/privacy_scope", "privacy/user_epsilon")) for tag in scalars_read)


def test_event_log_is_readable_after_each_round_while_the_run_goes_on(tmp_path: Path) -> None:
    log = EventLog(tmp_path)

    log.append(ROUNDS[0])
    after_one = _read(tmp_path)
    log.append(ROUNDS[1])
    after_two = _read(tmp_path)
    log.close()

    assert after_one["global/global_accuracy"] == [(0, pytest.approx(0.1))]
    assert [s for s, _ in after_two["global/global_accuracy"]] == [0, 1]


def test_scalars_skip_text_none_nan_and_booleans_and_split_per_site_mappings() -> None:
    record = {"round": 3, "a": "text", "b": None, "c": float("nan"), "d": True, "global_accuracy": 1,
              "epsilon_per_client": {"5": 1.5, "6": None}}

    assert scalars(record) == {"global/global_accuracy": 1.0, "epsilon_per_client/5": 1.5}


@pytest.mark.parametrize(("key", "tag"), [("global_accuracy", "global/global_accuracy"),
                                          ("clients_trained", "clients/clients_trained"),
                                          ("teacher_accuracy_mean", "transfer/teacher_accuracy_mean"),
                                          ("user_epsilon", "privacy/user_epsilon"),
                                          ("replies_dropped", "other/replies_dropped")])
def test_tag_of_groups_a_key_by_what_it_measures_and_keeps_its_name(key: str, tag: str) -> None:
    assert tag_of(key) == tag


def test_results_writer_without_tensorboard_warns_once_and_still_writes_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(fedkd.event_log.importlib.util, "find_spec", lambda name: None)

    with caplog.at_level(logging.WARNING, logger="fedkd.event_log"):
        writer = ResultsWriter(tmp_path, {}, plot_interval=1e9)
        for record in ROUNDS:
            writer.append(record)

    assert [r.getMessage() for r in caplog.records] == [fedkd.event_log.MISSING]
    assert (tmp_path / "results.json").is_file() and not (tmp_path / "tensorboard").exists()


def test_results_writer_tensorboard_off_writes_no_event_files(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, {}, plot_interval=1e9, tensorboard=False)
    writer.append(ROUNDS[0], final=True)
    assert not (tmp_path / "tensorboard").exists()


def test_event_log_resumed_after_a_checkpoint_shows_each_round_once_with_its_new_value(tmp_path: Path) -> None:
    # Prepare: a run wrote rounds 0 to 2, then crashed; its checkpoint holds round 1.
    crashed = EventLog(tmp_path)
    for record in ROUNDS:
        crashed.append(record)
    crashed.close()

    # Execute: the resumed run records round 2 again (another value), then round 3.
    resumed = EventLog(tmp_path)
    resumed.append({**ROUNDS[2], "global_accuracy": 0.55})
    resumed.append({**ROUNDS[2], "round": 3, "global_accuracy": 0.6})
    resumed.close()

    # Assert
    assert _read(tmp_path)["global/global_accuracy"] == [(0, pytest.approx(0.1)), (1, pytest.approx(0.4)),
                                                         (2, pytest.approx(0.55)), (3, pytest.approx(0.6))]


def test_wait_to_sort_last_waits_past_the_second_of_a_file_from_this_second_only(tmp_path: Path) -> None:
    # A file named for this very second: a new one opened now could sort before it (its counter sorts as text).
    now = int(time.time())
    (tmp_path / f"events.out.tfevents.{now}.host.7.9").write_bytes(b"")
    wait_to_sort_last(tmp_path)
    assert time.time() >= now + 1

    # A file from an earlier second: no wait.
    (tmp_path / f"events.out.tfevents.{now}.host.7.9").unlink()
    (tmp_path / f"events.out.tfevents.{now - 5}.host.7.9").write_bytes(b"")
    start = time.monotonic()
    wait_to_sort_last(tmp_path)
    assert time.monotonic() - start < 0.1
