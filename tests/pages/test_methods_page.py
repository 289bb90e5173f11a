"""The methods page: every row's run config is valid, and the table compares each row with its baseline."""

from __future__ import annotations

from typing import Any

import pytest

from pages import methods_page
from pages.methods_page import BASELINE_OF, METHODS, NOT_APPLICABLE, SETTINGS, _dataset, _values, table_lines
from simulations.run import resolved_config


@pytest.mark.parametrize("key", list(SETTINGS))
def test_every_applicable_row_of_every_setting_is_a_valid_config_differing_in_its_overrides(key: str) -> None:
    setting = SETTINGS[key]
    for method in setting.methods or METHODS:
        if (method, _dataset(setting)) in NOT_APPLICABLE:
            continue
        values = _values(key, method, 0, 10)
        config = resolved_config(values)  # validates every key
        for name, value in METHODS[method].items():
            assert config.to_dict()[name] == value, (key, method, name)
        assert values["run-name"] == _values(key, method, 0, 10)["run-name"] != _values(key, method, 1, 10)["run-name"]


def _run(final: float, seconds: float = 1.0) -> dict[str, Any]:
    return {"final": final, "best": final, "rounds_to_target": None, "bytes_per_round": 2e6,
            "seconds_per_round": seconds, "teacher_accuracy": 0.5, "agreement": 0.4}


def test_table_compares_each_row_with_its_own_baseline_and_shows_mean_and_spread() -> None:
    cells = {
        "CE-only FedAvg": {"runs": [_run(0.50), _run(0.60)]},
        "CE-only, 90% labels hidden": {"runs": [_run(0.20), _run(0.30)]},
        "KD, 90% labels hidden": {"runs": [_run(0.40, 2.0), _run(0.50, 2.0)]},
        "attention transfer": {"not_applicable": "no map"},
    }
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    lines = table_lines(data)

    hidden = next(line for line in lines if line.startswith("| KD, 90% labels hidden"))
    assert BASELINE_OF["KD, 90% labels hidden"] == "CE-only, 90% labels hidden"
    assert "| 45.0 ± 7.1 |" in hidden and "| +20.0 |" in hidden
    assert "not reached (0/2)" in hidden
    assert any(line.startswith("| attention transfer | n/a: no map") for line in lines)


def test_reuse_only_runs_nothing_and_leaves_out_cells_without_finished_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    finished = {("mnist1d-dir0.5-ce-only-fedavg-seed1-r10"): [{"round": 0, "global_accuracy": 0.1,
                                                               "bytes_sent": 0, "bytes_received": 0,
                                                               "round_seconds": 0.0},
                                                              {"round": 1, "global_accuracy": 0.5,
                                                               "bytes_sent": 10, "bytes_received": 5,
                                                               "round_seconds": 1.0}]}
    monkeypatch.setattr(methods_page, "finished_run", lambda values: finished.get(values["run-name"]))
    monkeypatch.setattr(methods_page, "run_or_reuse", lambda **_: pytest.fail("reuse-only must not run"))
    monkeypatch.setattr("fedkd.data.registry.load_dataset", lambda *a, **k: None)

    table = methods_page.measure(["mnist1d-dir0.5"], ["CE-only FedAvg", "Hinton KD"], [0, 1], 10, reuse_only=True)

    cells = table["mnist1d-dir0.5"]["cells"]
    assert list(cells) == ["CE-only FedAvg"] and cells["CE-only FedAvg"]["seeds"] == [1]
    assert cells["CE-only FedAvg"]["runs"][0]["final"] == 0.5


def test_each_setting_runs_its_own_round_count_unless_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(methods_page, "finished_run", lambda values: asked.append(values["run-name"]))
    monkeypatch.setattr("fedkd.data.registry.load_dataset", lambda *a, **k: None)

    table = methods_page.measure(["mnist1d-dir0.5", "fmnist-iid"], ["CE-only FedAvg"], [0], reuse_only=True)
    assert asked == ["mnist1d-dir0.5-ce-only-fedavg-seed0-r10", "fmnist-iid-ce-only-fedavg-seed0-r5"]
    assert [part["rounds"] for part in table.values()] == [10, 5]

    asked.clear()
    methods_page.measure(["fmnist-iid"], ["CE-only FedAvg"], [0], 3, reuse_only=True)
    assert asked == ["fmnist-iid-ce-only-fedavg-seed0-r3"]


def test_table_names_the_rows_a_setting_did_not_run() -> None:
    cells = {"CE-only FedAvg": {"runs": [_run(0.5)]}, "Hinton KD": {"runs": [_run(0.4)]}}
    data = {"table": {"bbc-dir0.5": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    note = next(line for line in table_lines(data) if line.startswith("Not run in this setting"))

    assert "pretrained teacher, 90% labels hidden" in note and "Hinton KD" not in note


def test_table_names_the_rows_run_on_fewer_seeds_and_why() -> None:
    cells = {"CE-only FedAvg": {"seeds": [0, 1, 2], "runs": [_run(0.5)] * 3},
             "RKD (distance + angle)": {"seeds": [0], "runs": [_run(0.4)]},
             "DKD": {"seeds": [0, 1], "runs": [_run(0.4)] * 2},
             "attention transfer": {"not_applicable": "no map"}}
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    note = next(line for line in table_lines(data) if line.startswith("Run on fewer seeds"))

    assert "RKD (distance + angle) (seeds [0]; its angle term costs" in note
    assert "DKD (seeds [0, 1])" in note
    assert "CE-only FedAvg (" not in note and "attention" not in note


def test_no_fewer_seeds_note_when_every_row_has_the_same_seeds() -> None:
    cells = {"CE-only FedAvg": {"seeds": [0, 1], "runs": [_run(0.5)] * 2},
             "DKD": {"seeds": [0, 1], "runs": [_run(0.4)] * 2}}
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    assert not any(line.startswith("Run on fewer seeds") for line in table_lines(data))


def test_delta_compares_with_the_baseline_on_the_seeds_both_ran() -> None:
    cells = {
        "CE-only FedAvg": {"seeds": [0, 1, 2], "runs": [_run(0.50), _run(0.70), _run(0.90)]},
        "Hinton KD": {"seeds": [1], "runs": [_run(0.60)]},
        "DKD": {"seeds": [0, 1, 2], "runs": [_run(0.55), _run(0.75), _run(0.95)]},
    }
    data = {"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}}

    lines = table_lines(data)

    assert "| -10.0 (seeds [1]) |" in next(line for line in lines if line.startswith("| Hinton KD"))
    assert "| +5.0 |" in next(line for line in lines if line.startswith("| DKD"))


def test_rows_pin_hinton_kd_so_the_table_does_not_move_with_the_defaults() -> None:
    hinton = resolved_config(_values("mnist1d-dir0.5", "Hinton KD", 0, 10)).to_dict()
    schedule = resolved_config(_values("mnist1d-dir0.5", "T schedule 8 -> 2 (linear)", 0, 10)).to_dict()
    assert all(hinton[key] == value for key, value in methods_page.HINTON_KD.items())
    assert (schedule["kd-temperature"], schedule["kd-temperature-schedule"]) == (8.0, "linear")


def test_table_rows_have_as_many_cells_as_its_header() -> None:
    cells = {"CE-only FedAvg": {"runs": [_run(0.5)]}, "attention transfer": {"not_applicable": "no map"}}
    lines = table_lines({"table": {"s": {"setting": "S", "target": 0.9, "rounds": 10, "cells": cells}}})
    rows = [line for line in lines if line.startswith("|")]
    assert len({row.count("|") for row in rows}) == 1
