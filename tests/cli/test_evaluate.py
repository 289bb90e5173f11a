"""``fedkd evaluate``: a saved student's accuracy and confusion matrix, or one line saying what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cli.main import main
from fedkd.checkpoint import save_model
from fedkd.data import DatasetSplits
from fedkd.evaluation import evaluate
from fedkd.models import build_model


@pytest.fixture
def student_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    path = tmp_path / "student.safetensors"
    save_model(path, model, architecture="mlp", input_shape=(40,), num_classes=10)
    return path


def _matrix(out: str) -> np.ndarray:
    rows = [line.split() for line in out.splitlines()[2:]]
    return np.array([[int(v) for v in row[1:]] for row in rows])


def test_evaluate_npz_prints_the_accuracy_of_the_student_and_a_consistent_confusion_matrix(
    tmp_path: Path, student_file: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: 300 real test samples in an .npz, and the reference accuracy from fedkd.evaluation.
    part = mnist1d.test.subset(np.arange(300))
    np.savez(tmp_path / "part.npz", x=part.x, y=part.y)
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    expected = evaluate(model, part, device=torch.device("cpu"))

    # Execute
    code = main(["evaluate", "--student", str(student_file), "--npz", str(tmp_path / "part.npz")])

    # Assert
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == f"accuracy {expected.accuracy:.4f} (loss {expected.loss:.4f}) on 300 examples of " \
                                  f"{tmp_path / 'part.npz'}"
    matrix = _matrix(out)
    assert matrix.shape == (10, 10) and matrix.sum() == 300
    assert np.array_equal(matrix.sum(axis=1), np.bincount(part.y, minlength=10))
    assert matrix.trace() / 300 == pytest.approx(expected.accuracy)


def test_evaluate_dataset_scores_the_whole_test_split(student_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--student", str(student_file), "--dataset", "mnist1d"])

    out = capsys.readouterr().out
    assert code == 0
    assert " on 1000 examples of mnist1d test split" in out.splitlines()[0]
    assert _matrix(out).sum() == 1000


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((4, 28, 28), np.float32), "y": np.zeros(4, np.int64)}, "inputs of shape [40]"),
    ({"x": np.zeros((4, 40), np.float32)}, "lacks the array(s) y"),
    ({"x": np.zeros((4, 40), np.float32), "y": np.full(4, 10)}, "labels must be in [0, 9]"),
])
def test_evaluate_bad_npz_is_one_line_and_exit_2(
    tmp_path: Path, student_file: Path, capsys: pytest.CaptureFixture[str], arrays: dict[str, np.ndarray],
    message: str
) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)

    code = main(["evaluate", "--student", str(student_file), "--npz", str(tmp_path / "bad.npz")])

    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("fedkd evaluate: error: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_evaluate_missing_student_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--student", str(tmp_path / "none.safetensors"), "--dataset", "mnist1d"])

    assert code == 2
    assert "none.safetensors does not exist" in capsys.readouterr().err
