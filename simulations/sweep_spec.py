"""A sweep file, parsed and checked: its rows, settings and seeds, expanded into cells.

Rows are either a grid (every combination of the listed values, named ``key=value ...``)
or named bundles of config values (``rows: {"Hinton KD": {}, "DKD": {kd-logit-loss: dkd}}``).
Settings (optional) are a second axis, each a named bundle of values shared by its rows
(a dataset and its partitioning, say), and may leave rows out: ``rows`` (only these),
``not-applicable`` and ``not-run`` (row -> why); ``row-values`` adds values to one row in
that setting only. A cell is one (setting, row, seed); its run-config is, later winning,
``base``, the setting's values, the row's, the setting's values for that row, and the seed.
Relative paths under :data:`PATH_KEYS` are taken from the repository root.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from simulations.flower_run import APP_DIR, resolved_config

SPEC_KEYS = {"name", "num-supernodes", "seeds", "workers", "metric", "metric-round", "base", "grid", "rows", "baseline",
             "paired-with", "settings"}
SETTING_KEYS = {"label", "values", "target", "rows", "row-values", "not-applicable", "not-run"}
METRIC_ROUNDS = ("final", "best")
# Config keys holding a path: a relative one in a sweep file is under the repository root.
PATH_KEYS = ("cache-dir", "teacher-checkpoint", "data-dir")


@dataclass(frozen=True)
class Setting:
    """One value of the settings axis: values its rows share, and which rows it runs."""

    name: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    target: float | None = None
    only: tuple[str, ...] = ()
    """Rows this setting runs; empty means every row (less the two below)."""
    row_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_applicable: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)

    def considers(self, row: str) -> bool:
        """Whether the row belongs to this setting at all (run, not run or not applicable)."""
        return not self.only or row in self.only

    def runs(self, row: str) -> bool:
        """Whether the row runs in this setting."""
        return self.considers(row) and row not in self.not_applicable and row not in self.not_run


@dataclass(frozen=True)
class Cell:
    """One run of a sweep, less where it goes: its setting, row, seed and run-config values."""

    setting: str
    row: str
    seed: int
    values: dict[str, Any]

    @property
    def label(self) -> str:
        """The row's name, after its setting's when the sweep has settings."""
        return f"{self.setting} / {self.row}" if self.setting else self.row


def label(row: Mapping[str, Any]) -> str:
    """A grid row's name: ``kd-alpha=0.3 kd-temperature=2.0``."""
    return " ".join(f"{k}={v}" for k, v in row.items())


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (see :mod:`simulations.sweep` for its format)."""

    name: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    baseline: Mapping[str, Any] | str = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    num_supernodes: int = 10
    workers: int = 1
    metric: str = "global_accuracy"
    metric_round: str = "final"
    """Which round's metric a run scores: ``final``, or ``best`` (its highest over the rounds, as
    Flower's niid-bench reports accuracy)."""
    named_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Setting] = field(default_factory=lambda: {"": Setting()})
    paired_with: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """Each row's values, in the file's order (a grid's: every combination)."""
        return list(self.row_table().values())

    def row_table(self) -> dict[str, dict[str, Any]]:
        """Row name -> its values."""
        if self.named_rows:
            return dict(self.named_rows)
        keys = list(self.grid)
        combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]
        return {label(row): row for row in combos}

    def baseline_row(self) -> str:
        """The baseline row's name."""
        return self.baseline if isinstance(self.baseline, str) else label(self.baseline)

    def baseline_of(self, row: str) -> str:
        """The row a row is compared with (its ``paired-with``, else the baseline)."""
        return self.paired_with.get(row, self.baseline_row())

    def cells(self) -> list[Cell]:
        """Every (setting, row, seed) that runs, settings outermost, in the file's order."""
        rows = self.row_table()
        return [Cell(setting.name, row, seed, cell_values(self, setting, row, values, seed))
                for setting in self.settings.values() for row, values in rows.items() if setting.runs(row)
                for seed in self.seeds]


def with_paths(values: Mapping[str, Any], root: Path = APP_DIR) -> dict[str, Any]:
    """``values`` with each relative path of :data:`PATH_KEYS` made absolute under ``root``."""
    out = dict(values)
    for key in PATH_KEYS:
        if isinstance(out.get(key), str) and out[key] and not Path(out[key]).expanduser().is_absolute():
            out[key] = str(root / out[key])
    return out


def cell_values(spec: SweepSpec, setting: Setting, row: str, values: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The run-config of one cell: base, setting, row, the setting's values for the row, and the seed."""
    return with_paths({**spec.base, **setting.values, **values, **setting.row_values.get(row, {}), "seed": seed})


def config_digest(values: Mapping[str, Any], leave_out: tuple[str, ...] = ()) -> str:
    """A short digest of the config these run-config values resolve to (where it is written left out, and the
    keys ``leave_out``)."""
    resolved = resolved_config(values).digest_dict()
    for key in ("output-dir", "run-name", *leave_out):
        resolved.pop(key, None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _mapping(document: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = document.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {key!r} must be a mapping, got {value!r}")
    return dict(value)


def _names(names: Any, rows: Mapping[str, Any], where: str) -> None:
    unknown = [n for n in names if n not in rows]
    if unknown:
        raise ValueError(f"{where} names rows that do not exist: {unknown}; rows: {list(rows)}")


def _setting(name: str, document: Any, rows: Mapping[str, Any], where: str) -> Setting:
    if not isinstance(document, dict):
        raise ValueError(f"{where}: setting {name!r} must be a mapping of {', '.join(sorted(SETTING_KEYS))}")
    unknown = set(document) - SETTING_KEYS
    if unknown:
        raise ValueError(f"{where}: setting {name!r} has unknown key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(SETTING_KEYS))}")
    at = f"{where}: setting {name!r}"
    setting = Setting(
        name=name, values=_mapping(document, "values", at), label=str(document.get("label") or name),
        target=None if document.get("target") is None else float(document["target"]),
        only=tuple(document.get("rows") or ()), row_values=_mapping(document, "row-values", at),
        not_applicable=_mapping(document, "not-applicable", at), not_run=_mapping(document, "not-run", at),
    )
    for key in ("rows", "row-values", "not-applicable", "not-run"):
        _names(document.get(key) or (), rows, f"{at} {key}")
    return setting


def load_spec(path: Path) -> SweepSpec:
    """Read and check a sweep file.

    Raises
    ------
    ValueError
        For an unknown key, neither or both of ``grid`` and ``rows``, a baseline that
        is not a row, a name that is not a row, or two cells that resolve to the same config.
    fedkd.config.ConfigError
        For a config value that is not valid (naming the key).
    """
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a sweep file is a mapping of {', '.join(sorted(SPEC_KEYS))}")
    unknown = set(document) - SPEC_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown sweep key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(SPEC_KEYS))}")
    grid, named = document.get("grid") or {}, document.get("rows") or {}
    if bool(grid) == bool(named):
        raise ValueError(f"{path}: give either 'grid' (config keys to lists of values) or 'rows' (named values)")
    if grid and not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError(f"{path}: 'grid' must map config keys to non-empty lists of values")
    if named and not all(isinstance(v, dict | None) for v in named.values()):
        raise ValueError(f"{path}: 'rows' must map row names to mappings of config values")
    named = {str(k): dict(v or {}) for k, v in named.items()}
    baseline = document.get("baseline")
    spec = SweepSpec(
        name=str(document.get("name") or path.stem), grid=dict(grid), named_rows=named,
        baseline=str(baseline) if named else dict(baseline or {}), base=_mapping(document, "base", str(path)),
        seeds=tuple(int(s) for s in document.get("seeds", [0])),
        num_supernodes=int(document.get("num-supernodes", 10)), workers=int(document.get("workers", 1)),
        metric=str(document.get("metric", "global_accuracy")),
        metric_round=str(document.get("metric-round", "final")),
        paired_with={str(k): str(v) for k, v in _mapping(document, "paired-with", str(path)).items()},
    )
    if spec.metric_round not in METRIC_ROUNDS:
        raise ValueError(f"{path}: metric-round must be one of {', '.join(METRIC_ROUNDS)}, got {spec.metric_round!r}")
    rows = spec.row_table()
    if spec.baseline_row() not in rows:
        kind = "grid row" if grid else "row"
        raise ValueError(f"{path}: baseline {spec.baseline} is not a {kind}; rows: {list(rows)}")
    _names([*spec.paired_with, *spec.paired_with.values()], rows, f"{path}: paired-with")
    settings = _mapping(document, "settings", str(path))
    if settings:
        spec = replace(spec, settings={str(k): _setting(str(k), v, rows, str(path)) for k, v in settings.items()})
    seen: dict[str, str] = {}
    for cell in spec.cells():
        if cell.seed != spec.seeds[0]:
            continue
        digest = config_digest(cell.values)  # raises ConfigError naming a bad key or value
        if digest in seen:
            raise ValueError(f"{path}: rows {seen[digest]!r} and {cell.label!r} resolve to the same config (a "
                             "value equal to its default does not override the experiment file)")
        seen[digest] = cell.label
    return spec
