"""The text-encoder report keeps each run's rounds and only the settings that differ, without local folders."""

from __future__ import annotations

import json
from pathlib import Path

from fedkd.config import FedKDConfig
from simulations.encoder_report import run_summary


def test_run_summary_keeps_changed_settings_and_rounds_drops_folders(tmp_path: Path) -> None:
    # Prepare: a results.json as the ServerApp writes it
    config = {**FedKDConfig().to_dict(), "task": "text-encoder", "dataset": "bbc-news", "seed": 1,
              "output-dir": "/somewhere/results", "experiment": "/somewhere/x.yaml"}
    rounds = [{"round": 0, "global_accuracy": 0.2, "global_loss": 1.6},
              {"round": 1, "global_accuracy": 0.8, "global_loss": 0.8, "teacher_accuracy_mean": 0.95,
               "bytes_sent": 10, "bytes_received": 5, "round_seconds": 3.0, "agreement_mean": 0.7}]
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"config": config, "rounds": rounds}))

    # Execute
    summary = run_summary(folder)

    # Assert
    assert summary["config"] == {"task": "text-encoder", "dataset": "bbc-news", "seed": 1}
    assert [r["global_accuracy"] for r in summary["rounds"]] == [0.2, 0.8]
    assert summary["rounds"][0]["bytes_sent"] is None and summary["rounds"][1]["bytes_received"] == 5
    assert summary["folder"] == "run"
