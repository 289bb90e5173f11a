"""The CE-only baseline of a run: the same resolved config with distillation off, run once and then reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import simulations.reuse
from fedkd.config import FedKDConfig
from simulations.comparison import (
    DISTILLATION_OFF,
    Comparison,
    ce_only_values,
    config_digest,
    final_accuracy,
)
from simulations.console import comparison_line
from simulations.flower_run import resolved_config
from simulations.reuse import ce_only_baseline, compare_with_baseline


def test_ce_only_values_turn_every_teacher_signal_off_and_keep_everything_else() -> None:
    # Prepare: a distilling run with an experiment file, a schedule and feature knowledge.
    config = resolved_config({"experiment": "mnist1d-iid.yaml", "kd-alpha": 0.3, "kd-alpha-schedule": "linear",
                              "hint-weight": 1.0, "seed": 4, "output-dir": "/r", "run-name": "main"})

    # Execute
    values = ce_only_values(config, 10)
    baseline = resolved_config(values)

    # Assert: distillation off, the experiment's keys kept (spelled out, no file), its own folder.
    assert {k: baseline.to_dict()[k] for k in DISTILLATION_OFF} == DISTILLATION_OFF
    assert baseline.partitioner == "iid" and baseline.seed == 4 and baseline.experiment == ""
    same = {k for k, v in config.to_dict().items() if baseline.to_dict()[k] == v}
    assert set(config.to_dict()) - same == {"kd-alpha", "kd-alpha-schedule", "kd-alpha-final", "hint-weight",
                                            "experiment", "output-dir", "run-name"}
    assert baseline.output_dir == "/r/baselines" and baseline.run_name == f"ce-only-{config_digest(baseline)}-n10"


def test_config_digest_ignores_where_files_go_and_sees_what_is_computed() -> None:
    config = FedKDConfig.from_mapping({"seed": 1})

    moved = FedKDConfig.from_mapping({"output-dir": "/elsewhere", "run-name": "x"}, base=config)
    changed = FedKDConfig.from_mapping({"learning-rate": 0.1}, base=config)

    assert config_digest(moved) == config_digest(config) != config_digest(changed)


def test_ce_only_values_differ_by_the_number_of_sites() -> None:
    config = FedKDConfig()

    assert ce_only_values(config, 10)["run-name"] != ce_only_values(config, 20)["run-name"]


def _finish(values: dict[str, Any], accuracies: list[float]) -> None:
    """Write a complete results.json for the run ``values`` describe."""
    config = resolved_config(values)
    folder = Path(config.output_dir) / config.run_name
    folder.mkdir(parents=True)
    rounds = [{"round": r, "global_accuracy": a} for r, a in enumerate(accuracies)]
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rounds": rounds}))


def test_ce_only_baseline_finished_is_reused_not_run_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a finished baseline of the config, and a harness that may not run anything.
    config = FedKDConfig.from_mapping({"num-server-rounds": 2, "output-dir": str(tmp_path)})
    _finish(ce_only_values(config, 3), [0.1, 0.3, 0.4])

    def no_run(**kwargs: object) -> Path:
        raise AssertionError("a finished baseline was run again")

    monkeypatch.setattr(simulations.reuse, "run_simulation", no_run)

    # Execute
    rounds, folder = ce_only_baseline(config, num_supernodes=3, echo=False)

    # Assert
    assert final_accuracy(rounds) == 0.4 and folder.parent == tmp_path / "baselines"


def test_ce_only_baseline_missing_is_run_once_with_distillation_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a harness that records its run and writes that run's results.
    config = FedKDConfig.from_mapping({"num-server-rounds": 1, "output-dir": str(tmp_path)})
    calls: list[dict[str, Any]] = []

    def fake_run(**kwargs: Any) -> Path:
        calls.append(kwargs)
        _finish(dict(kwargs["run_config"]), [0.1, 0.2])
        return Path()

    monkeypatch.setattr(simulations.reuse, "run_simulation", fake_run)

    # Execute: twice; the second finds the first's results.
    first, _ = ce_only_baseline(config, num_supernodes=2, echo=False)
    second, _ = ce_only_baseline(config, num_supernodes=2, echo=False)

    # Assert
    assert len(calls) == 1 and first == second
    assert resolved_config(calls[0]["run_config"]).kd_alpha == 1.0 and calls[0]["num_supernodes"] == 2


def test_compare_with_baseline_ce_only_run_is_its_own_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a run that is already CE-only; the teachers' mean is measured elsewhere.
    config = FedKDConfig.from_mapping({**DISTILLATION_OFF, "output-dir": str(tmp_path), "run-name": "ce"})
    monkeypatch.setattr(simulations.reuse, "run_simulation", lambda **kwargs: pytest.fail("ran a baseline"))
    monkeypatch.setattr(simulations.reuse, "mean_teacher_accuracy", lambda config, n: 0.61)
    (tmp_path / "ce").mkdir()
    rounds = [{"round": 0, "global_accuracy": 0.1}, {"round": 1, "global_accuracy": 0.466}]

    # Execute
    comparison = compare_with_baseline(config, rounds, tmp_path / "ce", num_supernodes=2)

    # Assert: compared with itself, and saved beside the run's results.
    assert comparison == Comparison(student=0.466, ce_only=0.466, teacher_mean=0.61, baseline_dir=str(tmp_path / "ce"))
    assert json.loads((tmp_path / "ce" / "comparison.json").read_text())["ce_only"] == 0.466


def test_final_accuracy_is_the_last_evaluated_round() -> None:
    rounds = [{"round": 0, "global_accuracy": 0.1}, {"round": 1, "global_accuracy": 0.5},
              {"round": 2, "global_accuracy": None}]

    assert final_accuracy(rounds) == 0.5 and final_accuracy([{"round": 0}]) is None


def test_comparison_line_puts_the_student_beside_its_baseline_and_teachers() -> None:
    line = comparison_line(Comparison(student=0.5313, ce_only=0.466, teacher_mean=0.6104))

    assert line == ("[fedkd] global student 53.1% | CE-only FedAvg student 46.6% (same config, no distillation) | "
                    "mean local teacher 61.0% (same test set)")


def test_comparison_line_missing_numbers_say_so() -> None:
    assert "mean local teacher n/a" in comparison_line(Comparison(student=0.5, ce_only=0.4, teacher_mean=None))
