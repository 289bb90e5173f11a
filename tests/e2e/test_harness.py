"""Through Flower: a key typed on the harness's command line wins over the experiment file, default or not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulations.run import main

pytestmark = pytest.mark.e2e


def test_typed_default_value_beats_the_experiment_file_in_a_real_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a file that sets local-epochs to 2; the command line types the default, 3.
    experiment = tmp_path / "two-epochs.yaml"
    experiment.write_text("local-epochs: 2\npartitioner: iid\nteacher-epochs: 2\nteacher-pretraining: none\n")

    # Execute
    code = main(["--num-supernodes", "2", "--client-cpus", "1", "--no-baseline",
                 "--run-name", "typed", "--experiment", str(experiment),
                 "--run-config", f"local-epochs=3 num-server-rounds=1 output-dir='{tmp_path}' "
                                 f"cache-dir='{tmp_path / 'cache'}'"])

    # Assert: the server ran with 3, kept the rest of the file, and the person was told.
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"fedkd: note: local-epochs=3 from the command line overrides local-epochs: 2 in {experiment}" in out
    stored = yaml.safe_load((tmp_path / "typed" / "config.yaml").read_text())
    assert stored["local-epochs"] == 3 and stored["partitioner"] == "iid" and stored["teacher-epochs"] == 2
    assert stored["experiment"] == str(tmp_path / "typed" / "experiment.yaml")
