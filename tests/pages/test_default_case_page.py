"""The default-case page measures the embedded default and shows the numbers its runs gave."""

from __future__ import annotations

from fedkd.config import FedKDConfig
from pages.default_case_page import CE, KD, TEACHER, render, run_values, summarise
from simulations.flower_run import resolved_config


def test_run_values_are_the_embedded_default_but_where_files_go() -> None:
    config = resolved_config(run_values(2)).to_dict()
    defaults = FedKDConfig().to_dict()

    differing = {k for k, v in config.items() if defaults[k] != v}

    assert differing == {"seed", "cache-dir", "output-dir", "run-name"} and config["seed"] == 2


def test_render_shows_each_seed_and_the_mean_of_its_runs() -> None:
    runs = {0: {KD: 0.70, CE: 0.60, TEACHER: 0.90}, 1: {KD: 0.60, CE: 0.50, TEACHER: 0.94}}
    data = {"clients": 10, "rounds": 20, "seeds": [0, 1], "runs": {str(k): v for k, v in runs.items()},
            "summary": summarise(runs), "public_pool_teacher_test_accuracy": 0.955, "teacher_finetune_epochs": 5,
            "teacher_pretrain_samples": 20000}

    page = render(data, 60.0, "python -m pages.default_case_page")

    assert f"| {KD} | 65.0% ± 7.1 | 70.0% | 60.0% |" in page
    assert f"| {CE} | 55.0% ± 7.1 | 60.0% | 50.0% |" in page
    assert f"| {TEACHER} | 92.0% ± 2.8 | 90.0% | 94.0% |" in page and "reaches 95.5%" in page
