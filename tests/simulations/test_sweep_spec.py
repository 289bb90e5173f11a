"""Sweep files with named rows and settings: cells, their values, and the checks on the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulations.flower_run import APP_DIR
from simulations.sweep_spec import load_spec

NAMED = {
    "name": "m", "seeds": [0, 1], "base": {"num-server-rounds": 2, "kd-alpha": 0.5},
    "rows": {"CE": {"kd-alpha": 1.0}, "KD": None, "CE hidden": {"kd-alpha": 1.0, "unlabeled-fraction": 0.9},
             "KD hidden": {"unlabeled-fraction": 0.9}, "pretrained": {"hint-weight": 1.0}},
    "baseline": "CE",
    "paired-with": {"KD hidden": "CE hidden"},
    "settings": {
        "iid": {"label": "IID", "target": 0.4, "values": {"experiment": "mnist1d-iid.yaml"},
                "not-applicable": {"pretrained": "no checkpoint"}},
        "dir": {"values": {"experiment": "mnist1d-dirichlet.yaml", "dirichlet-alpha": 0.1},
                "rows": ["CE", "KD", "pretrained"], "not-run": {"KD": "cost"},
                "row-values": {"pretrained": {"teacher-checkpoint": "ckpt/t.safetensors"}}},
    },
}


def _write(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_named_rows_and_settings_expand_to_the_cells_each_setting_runs(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, NAMED))

    cells = [(c.setting, c.row, c.seed) for c in spec.cells()]

    assert cells == [("iid", r, s) for r in ("CE", "KD", "CE hidden", "KD hidden") for s in (0, 1)] + [
        ("dir", r, s) for r in ("CE", "pretrained") for s in (0, 1)]
    assert spec.settings["iid"].label == "IID" and spec.settings["dir"].label == "dir"
    assert spec.settings["iid"].target == 0.4


def test_cell_values_layer_base_setting_row_row_values_and_seed(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, NAMED))

    cells = {(c.setting, c.row, c.seed): c.values for c in spec.cells()}

    assert cells["iid", "CE", 1] == {"num-server-rounds": 2, "kd-alpha": 1.0, "experiment": "mnist1d-iid.yaml",
                                     "seed": 1}
    pretrained = cells["dir", "pretrained", 0]
    assert pretrained["dirichlet-alpha"] == 0.1 and pretrained["hint-weight"] == 1.0
    assert pretrained["teacher-checkpoint"] == str(APP_DIR / "ckpt" / "t.safetensors")  # relative: repo root
    assert "teacher-checkpoint" not in cells["iid", "KD", 0]


def test_each_row_is_compared_with_its_paired_row_else_the_baseline(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, NAMED))
    assert [spec.baseline_of(r) for r in ("KD", "KD hidden", "CE")] == ["CE", "CE hidden", "CE"]


@pytest.mark.parametrize(("change", "message"), [
    ({"baseline": "nope"}, "baseline nope is not a row"),
    ({"paired-with": {"KD": "nope"}}, r"paired-with names rows that do not exist: \['nope'\]"),
    ({"settings": {"s": {"values": {}, "not-run": {"DKD": "x"}}}}, r"setting 's' not-run names rows .*'DKD'"),
    ({"settings": {"s": {"value": {}}}}, "setting 's' has unknown key.*value"),
    ({"grid": {"kd-alpha": [0.3]}}, "either 'grid' .* or 'rows'"),
    ({"rows": {"CE": {"kd-alpha": 1.0}, "also CE": {"kd-alpha": 1.0}}, "paired-with": {},
      "settings": {"iid": {"values": {"experiment": "mnist1d-iid.yaml"}}}},
     "rows 'iid / CE' and 'iid / also CE' resolve to the same config"),
])
def test_bad_named_sweep_file_is_refused_saying_why(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_spec(_write(tmp_path, {**NAMED, **change}))


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    document = {**NAMED, "base": {**NAMED["base"], "cache-dir": str(tmp_path / "cache")}}  # type: ignore[dict-item]
    spec = load_spec(_write(tmp_path, document))
    assert {c.values["cache-dir"] for c in spec.cells()} == {str(tmp_path / "cache")}
