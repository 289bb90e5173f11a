"""Sweeps: the grid's rows, checks on the file, paired summaries, and resuming from finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import simulations.sweep
from fedkd.config import ConfigError
from simulations.flower_run import resolved_config
from simulations.sweep import SweepSpec, label, load_spec, markdown, run_metric, run_sweep, run_values, summarize


def _write(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


SPEC = {"name": "s", "seeds": [0, 1], "base": {"num-server-rounds": 2},
        "grid": {"kd-alpha": [0.3, 1.0], "kd-temperature": [2.0, 4.0]}, "baseline": {"kd-alpha": 1.0,
                                                                                    "kd-temperature": 2.0}}


def test_load_spec_rows_are_the_grid_product_in_file_order(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, SPEC))
    assert [label(r) for r in spec.rows()] == [
        "kd-alpha=0.3 kd-temperature=2.0", "kd-alpha=0.3 kd-temperature=4.0",
        "kd-alpha=1.0 kd-temperature=2.0", "kd-alpha=1.0 kd-temperature=4.0",
    ]
    assert spec.seeds == (0, 1)


@pytest.mark.parametrize(("change", "message"), [
    ({"grd": {}}, "unknown sweep key.*grd"),
    ({"baseline": {"kd-alpha": 0.7, "kd-temperature": 2.0}}, "baseline .* is not a grid row"),
    ({"grid": {"kd-alpha": []}}, "non-empty lists"),
    ({"metric-round": "last"}, "metric-round must be one of final, best, got 'last'"),
    # The default partitioner (dirichlet) cannot override the experiment's iid: both rows would be iid.
    ({"base": {"experiment": "mnist1d-iid.yaml"}, "grid": {"partitioner": ["dirichlet", "iid"]},
      "baseline": {"partitioner": "iid"}}, "resolve to the same config"),
])
def test_load_spec_bad_file_is_refused_saying_why(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_spec(_write(tmp_path, {**SPEC, **change}))


def test_load_spec_bad_config_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kd-alpha=1.5"):
        load_spec(_write(tmp_path, {**SPEC, "grid": {"kd-alpha": [1.5, 1.0]}, "baseline": {"kd-alpha": 1.0}}))


def test_summarize_paired_differences_use_the_seeds_both_rows_ran() -> None:
    values = {"base": {0: 0.50, 1: 0.60, 2: 0.70}, "new": {0: 0.55, 1: 0.58}}

    table = {r["row"]: r for r in summarize(values, "base")}

    assert table["base"]["mean"] == pytest.approx(0.60) and table["base"]["delta_mean"] is None
    assert table["new"]["mean"] == pytest.approx(0.565)
    assert (table["new"]["min"], table["new"]["max"]) == (0.55, 0.58)
    assert table["new"]["paired_seeds"] == 2
    assert table["new"]["delta_mean"] == pytest.approx((0.05 - 0.02) / 2)
    assert (table["new"]["delta_min"], table["new"]["delta_max"]) == (pytest.approx(-0.02), pytest.approx(0.05))
    assert "| new | 2 | 0.5650 | 0.5500 to 0.5800 | +0.0150 (-0.0200 to +0.0500, 2 seeds) |" in markdown(
        list(table.values()), "global_accuracy", "base")


def _finish(values: dict[str, object], accuracy: float) -> None:
    """Write a complete results folder for a run, as the server would."""
    config = resolved_config(values)
    folder = Path(config.output_dir) / config.run_name
    folder.mkdir(parents=True)
    rounds = [{"round": r, "global_accuracy": accuracy} for r in range(config.num_server_rounds + 1)]
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rounds": rounds}))


def test_run_sweep_finished_runs_are_reused_and_summarised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: every (row, seed) already ran; accuracy 0.1 * (row index + 1) + 0.01 * seed.
    spec = SweepSpec(name="s", grid={"kd-alpha": [0.3, 1.0]}, baseline={"kd-alpha": 1.0},
                     base={"num-server-rounds": 2}, seeds=(0, 1))
    for index, row in enumerate(spec.rows()):
        for seed in spec.seeds:
            _finish(run_values(spec, row, seed, tmp_path / "s" / "runs"), 0.1 * (index + 1) + 0.01 * seed)

    def no_run(**kwargs: object) -> None:
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(simulations.sweep, "run_simulation", no_run)

    # Execute
    table = {r["row"]: r for r in run_sweep(spec, tmp_path)}

    # Assert
    assert table["kd-alpha=0.3"]["mean"] == pytest.approx(0.105)
    assert table["kd-alpha=0.3"]["delta_mean"] == pytest.approx(-0.1)
    saved = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert saved["values"]["kd-alpha=1.0"] == {"0": pytest.approx(0.2), "1": pytest.approx(0.21)}
    assert (tmp_path / "s" / "sweep.md").read_text().startswith("| row |")


def test_run_values_same_row_and_seed_same_folder_other_seed_other_folder(tmp_path: Path) -> None:
    spec = SweepSpec(name="s", grid={"kd-alpha": [0.3]}, baseline={"kd-alpha": 0.3})
    first = run_values(spec, {"kd-alpha": 0.3}, 0, tmp_path)
    assert run_values(spec, {"kd-alpha": 0.3}, 0, tmp_path)["run-name"] == first["run-name"]
    assert run_values(spec, {"kd-alpha": 0.3}, 1, tmp_path)["run-name"] != first["run-name"]


def test_run_sweep_named_rows_in_settings_compare_each_row_within_its_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: two settings x three named rows, every run finished; accuracy = row score + setting offset.
    document = {"name": "n", "seeds": [0], "base": {"num-server-rounds": 1},
                "rows": {"CE": {"kd-alpha": 1.0}, "KD": {}, "KD hidden": {"unlabeled-fraction": 0.9}},
                "baseline": "CE", "paired-with": {"KD hidden": "KD"},
                "settings": {"iid": {"values": {"experiment": "mnist1d-iid.yaml"}},
                             "dir": {"values": {"experiment": "mnist1d-dirichlet.yaml"}}}}
    spec = load_spec(_write(tmp_path, document))
    score = {"CE": 0.5, "KD": 0.6, "KD hidden": 0.45}
    for cell in spec.cells():
        _finish(simulations.sweep.placed(cell.values, tmp_path / "n" / "runs"),
                score[cell.row] + (0.1 if cell.setting == "dir" else 0.0))
    monkeypatch.setattr(simulations.sweep, "run_simulation", lambda **_: pytest.fail("a finished run ran again"))

    # Execute
    table = {r["row"]: r for r in run_sweep(spec, tmp_path)}

    # Assert: paired differences within each setting, against each row's own baseline.
    assert table["dir / KD"]["delta_mean"] == pytest.approx(0.1)
    assert table["dir / KD"]["baseline"] == "dir / CE"
    assert table["iid / KD hidden"]["delta_mean"] == pytest.approx(-0.15)
    assert table["iid / CE"]["delta_mean"] is None
    text = (tmp_path / "n" / "sweep.md").read_text()
    assert "| iid / CE | 1 | 0.5000 | 0.5000 to 0.5000 | baseline |" in text
    assert "| dir / CE | 1 | 0.6000 | 0.6000 to 0.6000 | baseline |" in text
    assert "-0.1500 (-0.1500 to -0.1500, 1 seeds) vs iid / KD |" in text


def test_main_list_prints_each_cell_and_whether_it_finished_running_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {**SPEC, "seeds": [0], "grid": {"kd-alpha": [0.3, 1.0]}, "baseline": {"kd-alpha": 1.0}})
    spec = load_spec(path)
    _finish(run_values(spec, {"kd-alpha": 1.0}, 0, tmp_path / "out" / "s" / "runs"), 0.5)
    monkeypatch.setattr(simulations.sweep, "run_simulation", lambda **_: pytest.fail("--list must not run"))

    code = simulations.sweep.main([str(path), "--output", str(tmp_path / "out"), "--list"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("kd-alpha=0.3 | seed 0 | ") and lines[0].endswith(" | to run")
    assert lines[1].startswith("kd-alpha=1.0 | seed 0 | ") and lines[1].endswith(" | finished")


def test_main_runs_only_the_cells_named_by_seed_row_and_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a sweep of 2 rows x 2 seeds x 2 settings; record which cells the harness is asked to run.
    document = {"name": "n", "seeds": [0, 1], "base": {"num-server-rounds": 1},
                "rows": {"CE": {"kd-alpha": 1.0}, "KD": {}}, "baseline": "CE",
                "settings": {"iid": {"values": {"experiment": "mnist1d-iid.yaml"}},
                             "dir": {"values": {"experiment": "mnist1d-dirichlet.yaml"}}}}
    path = _write(tmp_path, document)
    asked: list[tuple[float, str, int]] = []

    def fake_run(*, run_config: dict[str, object], **_: object) -> Path:
        config = resolved_config(run_config)
        asked.append((config.kd_alpha, config.partitioner, config.seed))
        _finish(run_config, 0.5)
        return Path(str(run_config["output-dir"])) / str(run_config["run-name"])

    monkeypatch.setattr(simulations.sweep, "run_simulation", fake_run)

    # Execute
    code = simulations.sweep.main([str(path), "--output", str(tmp_path / "out"), "--seeds", "1", "--rows", "CE",
                                   "--settings", "dir"])

    # Assert: one cell ran, and the summary holds only it.
    assert code == 0 and asked == [(1.0, "dirichlet", 1)]
    saved = json.loads((tmp_path / "out" / "n" / "sweep.json").read_text())
    assert saved["values"] == {"dir / CE": {"1": pytest.approx(0.5)}}


@pytest.mark.parametrize(("flags", "message"), [
    (["--seeds", "7"], "has no seed '7'; it has '0', '1'"),
    (["--rows", "KD"], "has no row 'KD'; it has 'kd-alpha=0.3', 'kd-alpha=1.0'"),
])
def test_main_refuses_a_cell_filter_the_file_does_not_have(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str) -> None:
    path = _write(tmp_path, {**SPEC, "grid": {"kd-alpha": [0.3, 1.0]}, "baseline": {"kd-alpha": 1.0}})

    code = simulations.sweep.main([str(path), "--output", str(tmp_path / "out"), *flags])

    assert code == 2 and message in capsys.readouterr().err


def test_run_metric_final_is_the_last_round_best_the_highest_skipping_unscored_rounds() -> None:
    rounds = [{"global_accuracy": 0.1}, {"global_accuracy": 0.7}, {"global_accuracy": None},
              {"global_accuracy": 0.6}]

    assert run_metric(rounds, "global_accuracy") == 0.6
    assert run_metric(rounds, "global_accuracy", "best") == 0.7
    with pytest.raises(KeyError, match="no round has 'agreement_mean'"):
        run_metric(rounds, "agreement_mean", "best")
    with pytest.raises(ValueError, match="final or best, got 'mean'"):
        run_metric(rounds, "global_accuracy", "mean")


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "simulations" / "sweeps").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_load_spec_every_shipped_sweep_file_loads_and_resolves_every_cell(path: Path) -> None:
    spec = load_spec(path)  # raises naming a bad key, value or row

    assert spec.cells() and all(resolved_config(cell.values) for cell in spec.cells())


def test_load_spec_niid_bench_file_is_the_published_protocol_scored_by_its_best_round() -> None:
    spec = load_spec(Path(__file__).parents[2] / "simulations" / "sweeps" / "niid-bench.yaml")

    assert spec.metric_round == "best" and spec.seeds == (0, 1, 2) and spec.num_supernodes == 10
    for cell in spec.cells():
        config = resolved_config(cell.values)
        assert (config.dataset, config.num_server_rounds, config.local_epochs) == ("fashion-mnist", 50, 10)
        assert config.partitioner == ("iid" if cell.setting == "iid" else "dirichlet")
