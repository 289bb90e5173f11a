"""The harness checks a run's whole config before starting anything, and typed keys win over the file."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

import fedkd.data.fashion_mnist
import fedkd.extras
from fedkd.config import FedKDConfig
from server.strategy import STRATEGIES
from simulations.flower_run import APP_DIR
from simulations.preflight import (
    PreflightError,
    check_keys,
    parse_run_config,
    plan_run,
    write_resolved_experiment,
)
from simulations.run import main

EXPERIMENT = "fashion-mnist-dirichlet.yaml"  # sets local-epochs: 1 (the default is 3)


def _plan(tmp_path: Path, typed: dict[str, object], experiment: str = "", **kwargs: object):  # type: ignore[no-untyped-def]
    return plan_run(typed={"output-dir": str(tmp_path), **typed}, experiment=experiment, app_dir=APP_DIR,
                    num_supernodes=kwargs.pop("num_supernodes", 3), check_data=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "expected"), [
    (["--run-config", "kd-temperature=-1"], "fedkd: error: kd-temperature=-1.0 is not allowed: must be > 0\n"),
    (["--run-config", "no-such-key=1"],
     "fedkd: error: --run-config: unknown key 'no-such-key' (see `python -m simulations.run --list-keys`)\n"),
    (["--run-config", "kd-temprature=2"],
     "fedkd: error: --run-config: unknown key 'kd-temprature' (did you mean 'kd-temperature'?)\n"),
    (["--run-config", "strategy='fedfoo'"],
     f"fedkd: error: strategy='fedfoo' is not allowed: choose one of {', '.join(STRATEGIES)}\n"),
    (["--num-supernodes", "0"], "fedkd: error: --num-supernodes=0 is not allowed: must be >= 1\n"),
])
def test_main_bad_config_prints_one_line_and_exits_2_before_starting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str
) -> None:
    started: list[object] = []
    monkeypatch.setattr("simulations.run.run_simulation", lambda **kwargs: started.append(kwargs))

    code = main(argv)

    out, err = capsys.readouterr()
    assert code == 2
    assert err == expected
    assert out == "" and started == []


def test_check_keys_experiment_file_typo_is_named_with_the_file() -> None:
    with pytest.raises(PreflightError, match=r"^experiment file x.yaml: unknown key 'local-epoch' "
                                             r"\(did you mean 'local-epochs'\?\)$"):
        check_keys({"dataset": "mnist1d", "local-epoch": 2}, "experiment file x.yaml")


def test_parse_run_config_values_are_toml_and_a_bare_word_is_a_string() -> None:
    values = parse_run_config('kd-alpha=0.3 local-dp=true dataset="fashion-mnist" strategy=fedprox seed=4')

    assert values == {"kd-alpha": 0.3, "local-dp": True, "dataset": "fashion-mnist", "strategy": "fedprox", "seed": 4}


def test_parse_run_config_item_without_equals_is_refused_by_name() -> None:
    with pytest.raises(PreflightError, match="'kd-alpha' is not key=value"):
        parse_run_config("kd-alpha")


def test_plan_run_typed_default_beats_the_experiment_file_at_the_server_too(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"local-epochs": 3, "kd-alpha": 0.3}, EXPERIMENT, run_name="r")
    write_resolved_experiment(plan)

    at_server = FedKDConfig.from_run_config({**FedKDConfig().to_dict(), **plan.run_config}, base_dir=APP_DIR)

    assert plan.config.local_epochs == 3 and plan.config.kd_alpha == 0.3
    assert plan.config.dataset == "fashion-mnist" and plan.config.learning_rate == 0.02  # the rest of the file
    assert at_server == plan.config
    assert plan.notices == [f"note: local-epochs=3 from the command line overrides local-epochs: 1 in {EXPERIMENT}"]
    assert Path(plan.run_config["experiment"]) == tmp_path / "r" / "experiment.yaml"


def test_plan_run_without_overlap_passes_the_experiment_file_unchanged(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"kd-alpha": 0.3}, EXPERIMENT, run_name="r")

    assert plan.notices == [] and plan.resolved_experiment is None
    assert plan.run_config["experiment"] == EXPERIMENT
    assert FedKDConfig.from_run_config({**FedKDConfig().to_dict(), **plan.run_config}, base_dir=APP_DIR) == plan.config


def test_plan_run_names_the_run_and_makes_the_results_folder_absolute(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = plan_run(typed={"output-dir": "out"}, app_dir=APP_DIR, num_supernodes=2, check_data=False)

    assert plan.results_dir.parent == tmp_path / "out"
    assert plan.config.run_name and plan.run_config["run-name"] == plan.config.run_name


def test_plan_run_fashion_mnist_absent_and_offline_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fedkd.data.fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian-package")
    monkeypatch.delenv("FEDKD_DATA_DIR", raising=False)

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(fedkd.data.fashion_mnist.urllib.request, "urlopen", offline)

    with pytest.raises(PreflightError) as raised:
        plan_run(typed={"dataset": "fashion-mnist", "student": "mlp", "teacher": "mlp",
                        "cache-dir": str(tmp_path / "cache")}, app_dir=APP_DIR,
                 num_supernodes=2)

    message = str(raised.value)
    assert "\n" not in message
    assert "apt-get install dataset-fashion-mnist" in message and "data-dir=FOLDER" in message
    assert "Temporary failure in name resolution" in message
    assert not list((tmp_path / "cache").rglob("*.gz"))


def test_plan_run_bbc_news_without_the_text_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fedkd.extras.importlib.util.find_spec
    monkeypatch.setattr(fedkd.extras.importlib.util, "find_spec",
                        lambda name: None if name == "sentence_transformers" else real(name))

    with pytest.raises(PreflightError, match=r"pip install 'fedkd\[text\]'"):
        plan_run(typed={"dataset": "bbc-news", "student": "mlp", "teacher": "mlp"}, app_dir=APP_DIR,
                 num_supernodes=2)


def test_plan_run_feddf_on_fashion_mnist_without_mlxtend_names_the_proxy_extra(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("simulations.preflight.check_available", lambda *args, **kwargs: None)
    real = fedkd.extras.importlib.util.find_spec
    monkeypatch.setattr(fedkd.extras.importlib.util, "find_spec",
                        lambda name: None if name == "mlxtend" else real(name))

    with pytest.raises(PreflightError, match=r"mlxtend \(extra 'proxy'\)"):
        plan_run(typed={"dataset": "fashion-mnist", "student": "cnn-small", "teacher": "cnn-small",
                        "server-distillation": True}, app_dir=APP_DIR, num_supernodes=2)
