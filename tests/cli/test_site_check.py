"""``fedkd site check``: a good site gets its report and its command; every problem names file, key and value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cli.main import main
from fedkd.checkpoint import save_model
from fedkd.data.site import SiteData
from fedkd.models import build_model


def _write_site(folder: Path, site: SiteData) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "train.npz", x=site.train.x, y=site.train.y)
    np.savez(folder / "test.npz", x=site.test.x, y=site.test.y)
    return folder


def _teacher(path: Path, architecture: str = "mlp", input_shape: tuple[int, ...] = (40,)) -> Path:
    torch.manual_seed(0)
    model = build_model(architecture, input_shape=input_shape, num_classes=10)
    save_model(path, model, architecture=architecture, input_shape=input_shape, num_classes=10)
    return path


def _check(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["site", "check", "--dataset", "mnist1d", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_good_site_reports_counts_teacher_accuracy_and_the_supernode_command(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_site(tmp_path / "site", small_site)
    teacher = _teacher(tmp_path / "teacher.safetensors")
    (tmp_path / "ca.crt").write_text("certificate")

    code, out, err = _check(capsys, "--data-dir", data, "--teacher-checkpoint", teacher, "--teacher-architecture",
                            "mlp", "--superlink", "10.0.0.5:8000", "--root-certificates", tmp_path / "ca.crt")

    assert code == 0, err
    counts = np.bincount(small_site.train.y, minlength=10).tolist()
    assert f"240 samples, x float32 (240, 40), class counts {counts}" in out
    assert "teacher accuracy on the local test split:" in out and "(60 samples)" in out
    assert out.strip().splitlines()[-1] == (
        f"flower-supernode --superlink 10.0.0.5:8000 --root-certificates {tmp_path / 'ca.crt'} --node-config "
        f"\"data-dir='{data}' teacher-checkpoint='{teacher}' teacher-architecture='mlp'\""
    )


def test_check_checkpoint_with_nan_weights_names_the_tensor(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_site(tmp_path / "site", small_site)
    teacher = _teacher(tmp_path / "teacher.safetensors")
    tensors = load_file(teacher)
    key = sorted(tensors)[0]
    tensors[key].view(-1)[3] = float("nan")
    from safetensors import safe_open

    with safe_open(str(teacher), framework="pt") as reader:
        metadata = reader.metadata()
    save_file(tensors, teacher, metadata=metadata)

    code, out, err = _check(capsys, "--data-dir", data, "--teacher-checkpoint", teacher)

    assert code == 1
    assert str(teacher) in err and f"{key} holds 1 non-finite value(s)" in err and "first: nan" in err
    assert "flower-supernode" not in out


@pytest.mark.parametrize(
    ("architecture", "input_shape", "flag", "expected"),
    [
        ("mlp", (40,), "cnn1d", ["does not fit 'cnn1d'"]),
        ("mlp", (28, 28), "", ["input_shape (28, 28)", "the dataset needs (40,)"]),
    ],
    ids=["architecture-flag-does-not-fit", "checkpoint-for-another-dataset"],
)
def test_check_teacher_of_the_wrong_architecture_is_a_problem(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str],
    architecture: str, input_shape: tuple[int, ...], flag: str, expected: list[str],
) -> None:
    data = _write_site(tmp_path / "site", small_site)
    teacher = _teacher(tmp_path / "teacher.safetensors", architecture, input_shape)
    extra = ["--teacher-architecture", flag] if flag else []

    code, _, err = _check(capsys, "--data-dir", data, "--teacher-checkpoint", teacher, *extra)

    assert code == 1 and str(teacher) in err
    for fragment in expected:
        assert fragment in err


def test_check_unknown_teacher_architecture_without_checkpoint_is_a_problem(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_site(tmp_path / "site", small_site)

    code, _, err = _check(capsys, "--data-dir", data, "--teacher-architecture", "cnn-small")

    assert code == 1 and "teacher-architecture 'cnn-small'" in err and "rank" in err


def test_check_bad_site_files_are_each_named(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_site(tmp_path / "site", small_site)
    np.savez(data / "train.npz", x=small_site.train.x.astype(np.float64), y=small_site.train.y)
    (data / "test.npz").unlink()
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00\x01garbage")

    code, _, err = _check(capsys, "--data-dir", data, "--teacher-checkpoint", tmp_path / "garbage.safetensors",
                          "--root-certificates", tmp_path / "missing-ca.crt")

    problems = [line for line in err.splitlines() if line.startswith("problem:")]
    assert code == 1 and len(problems) == 4
    assert f"{data / 'train.npz'}: 'x' has dtype float64" in problems[0]
    assert f"{data / 'test.npz'}: file does not exist" in problems[1]
    assert "garbage.safetensors" in problems[2] and "not a safetensors file" in problems[2]
    assert "--root-certificates" in problems[3] and "missing-ca.crt" in problems[3]


def test_check_nan_and_label_out_of_range_in_site_files_are_named(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_site(tmp_path / "site", small_site)
    x = small_site.train.x.copy()
    x[7, 2] = np.inf
    np.savez(data / "train.npz", x=x, y=small_site.train.y)
    y = small_site.test.y.copy()
    y[5] = -1
    np.savez(data / "test.npz", x=small_site.test.x, y=y)

    code, _, err = _check(capsys, "--data-dir", data)

    assert code == 1
    assert "train.npz: 'x' holds a non-finite value inf (as float32) in sample 7" in err
    assert "test.npz: 'y' holds label -1 at index 5" in err


def test_check_path_that_node_config_cannot_carry_is_refused(
    tmp_path: Path, small_site: SiteData, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_site(tmp_path / "my site", small_site)

    code, _, err = _check(capsys, "--data-dir", data)

    assert code == 1 and f"data-dir={str(data)!r}" in err
