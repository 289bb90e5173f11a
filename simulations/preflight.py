"""Resolve and check a run's whole configuration before anything starts.

The harness knows exactly which keys a person typed, so it can say which one is
wrong in one line (with the closest known key for a typo), make the keys typed on
the command line win over the experiment file (the server alone cannot tell a
typed default from an unset key), and check that the dataset and the packages a
feature needs are there, all before a SuperLink starts.
"""

from __future__ import annotations

import datetime
import difflib
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedkd.config import ConfigError, FedKDConfig, load_experiment
from fedkd.data.registry import check_available
from fedkd.extras import require
from fedkd.io import resolve_cache_dir, write_atomic
from server.strategy import check_strategy

RESOLVED_EXPERIMENT = "experiment.yaml"
"""Name, in the results folder, of the experiment file the harness writes when typed keys override it."""


class PreflightError(ValueError):
    """The run cannot start; the message is one line saying what to change."""


@dataclass(frozen=True)
class Plan:
    """A checked run: its config, what the harness passes to ``flwr run``, and notices for the person."""

    config: FedKDConfig
    run_config: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    resolved_experiment: dict[str, Any] | None = None

    @property
    def results_dir(self) -> Path:
        """Where the run's files go."""
        return Path(self.config.output_dir) / self.config.run_name


def parse_run_config(text: str) -> dict[str, Any]:
    """``'kd-alpha=0.3 dataset="fashion-mnist"'`` -> ``{"kd-alpha": 0.3, "dataset": "fashion-mnist"}``.

    Values are TOML (numbers, booleans, quoted strings); a bare word is a string.

    Raises
    ------
    PreflightError
        For an item that is not ``key=value``.
    """
    values: dict[str, Any] = {}
    try:
        items = shlex.split(text, posix=False)
    except ValueError as error:
        raise PreflightError(f"--run-config {text!r} cannot be split into key=value items: {error}") from error
    for item in items:
        key, equals, raw = item.partition("=")
        if not equals or not key:
            raise PreflightError(f"--run-config item {item!r} is not key=value (e.g. kd-alpha=0.3)")
        try:
            values[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            values[key] = raw.strip("'\"")
    return values


def check_keys(values: Mapping[str, Any], source: str) -> None:
    """Refuse a key FedKDConfig does not know, naming the closest known key.

    Raises
    ------
    PreflightError
        ``source: unknown key 'kd-temprature' (did you mean 'kd-temperature'?) ...``.
    """
    known = FedKDConfig.keys()
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see `python -m simulations.run --list-keys`"
            raise PreflightError(f"{source}: unknown key {key!r} ({hint})")


def _describe(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def plan_run(
    *,
    typed: Mapping[str, Any],
    experiment: str = "",
    app_dir: Path,
    num_supernodes: int,
    client_cpus: float | None = None,
    client_gpus: float | None = None,
    run_name: str = "",
    check_data: bool = True,
) -> Plan:
    """Resolve defaults < experiment file < typed keys, check everything, and say what to pass to the server.

    Parameters
    ----------
    typed : mapping
        The run-config keys given on the command line.
    experiment : str
        The ``--experiment`` file (also accepted as ``experiment`` in ``typed``).
    app_dir : pathlib.Path
        The Flower app; relative experiment paths resolve against it.
    num_supernodes, client_cpus, client_gpus
        The federation config, checked too.
    run_name : str
        ``--run-name``; a timestamp when neither it nor the config names one.
    check_data : bool
        Check that the dataset (and a feature's extra packages) are available.

    Raises
    ------
    PreflightError
        One line naming the key or value to change and what is allowed.
    """
    if num_supernodes < 1:
        raise PreflightError(f"--num-supernodes={num_supernodes} is not allowed: must be >= 1")
    if client_cpus is not None and client_cpus <= 0:
        raise PreflightError(f"--client-cpus={client_cpus} is not allowed: must be > 0")
    if client_gpus is not None and client_gpus < 0:
        raise PreflightError(f"--client-gpus={client_gpus} is not allowed: must be >= 0")
    typed = dict(typed)
    check_keys(typed, "--run-config")
    experiment = str(typed.pop("experiment", "") or experiment)
    if run_name:
        typed["run-name"] = run_name
    notices: list[str] = []
    resolved: dict[str, Any] | None = None
    try:
        from_file = load_experiment(experiment, base_dir=app_dir) if experiment else {}
        check_keys(from_file, f"experiment file {experiment}")
        overridden = {k: v for k, v in typed.items() if k in from_file and from_file[k] != v}
        for key, value in overridden.items():
            notices.append(f"note: {key}={_describe(value)} from the command line overrides "
                           f"{key}: {_describe(from_file[key])} in {experiment}")
        base = FedKDConfig.from_mapping({**from_file, "experiment": experiment} if experiment else {})
        config = FedKDConfig.from_mapping(typed, base=base)
        check_strategy(config)
    except ConfigError as error:
        raise PreflightError(str(error)) from error
    changes: dict[str, Any] = {}
    if not Path(config.output_dir).expanduser().is_absolute():
        changes["output-dir"] = str(Path.cwd() / Path(config.output_dir).expanduser())
    if not config.run_name:
        changes["run-name"] = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    config = FedKDConfig.from_mapping(changes, base=config)
    passed = {**typed, **changes}
    if experiment:
        passed["experiment"] = experiment
    if any(k in from_file for k in typed):
        # The server drops run-config values equal to the defaults, so a typed default could not beat the file:
        # pass one experiment file that already holds the typed values instead.
        resolved = {**from_file, **{k: v for k, v in typed.items() if k in from_file}}
        passed = {k: v for k, v in passed.items() if k not in from_file}
        passed["experiment"] = str(Path(config.output_dir) / config.run_name / RESOLVED_EXPERIMENT)
        config = FedKDConfig.from_mapping({"experiment": passed["experiment"]}, base=config)
    if check_data:
        check_data_available(config)
    return Plan(config=config, run_config=passed, notices=notices, resolved_experiment=resolved)


def check_data_available(config: FedKDConfig) -> None:
    """The dataset can be loaded and a feature's extra packages are installed.

    Raises
    ------
    PreflightError
        Saying how to get what is missing.
    """
    try:
        check_available(config.dataset, data_dir=Path(config.data_dir) if config.data_dir else None,
                        cache_dir=resolve_cache_dir(config.cache_dir))
        if config.server_distillation and config.dataset == "fashion-mnist":
            require("proxy")
    except (OSError, ImportError, ValueError) as error:
        raise PreflightError(f"dataset={config.dataset}: {error}") from error


def write_resolved_experiment(plan: Plan) -> None:
    """Write the experiment file the plan passes to the server, if it has one."""
    if plan.resolved_experiment is None:
        return
    text = ("# The experiment file with the keys typed on the command line applied (written by simulations.run).\n"
            + yaml.safe_dump(plan.resolved_experiment, sort_keys=False))
    write_atomic(Path(plan.run_config["experiment"]), text.encode())
