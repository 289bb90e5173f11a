"""``fedkd site prepare``: good inputs become validated site files; bad ones name the bad value and write nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from fedkd.data import DatasetSplits


def _shard(mnist1d: DatasetSplits, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    return mnist1d.train.x[:n].copy(), mnist1d.train.y[:n].copy()


def _prepare(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["site", "prepare", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _nothing_written(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def test_prepare_npz_writes_float32_int64_splits_holding_every_sample(
    tmp_path: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _shard(mnist1d)
    np.savez(tmp_path / "mine.npz", x=x.astype(np.float64), y=y.astype(np.int32))

    code, out, _ = _prepare(capsys, "--dataset", "mnist1d", "--npz", tmp_path / "mine.npz", "--out", tmp_path / "site")

    assert code == 0
    with np.load(tmp_path / "site" / "train.npz") as train, np.load(tmp_path / "site" / "test.npz") as test:
        assert train["x"].dtype == np.float32 and train["y"].dtype == np.int64
        assert (len(train["y"]), len(test["y"])) == (40, 10)
        merged = np.concatenate([train["x"], test["x"]])
        assert sorted(map(bytes, merged)) == sorted(map(bytes, x.astype(np.float32)))
    assert "40 samples" in out and "10 samples" in out
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["test.npz", "train.npz"]


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 45, np.nan, x), y), ["'x'", "nan", "sample 1"]),
        (lambda x, y: (x, np.where(np.arange(y.size) == 3, 10, y)), ["'y'", "label 10", "index 3", "[0, 10)"]),
        (lambda x, y: (x[:, :39], y), ["'x'", "(50, 39)", "(n, 40)"]),
        (lambda x, y: (x, y.astype(np.float32)), ["'y'", "float32", "integers"]),
        (lambda x, y: (x, y[:49]), ["'x' holds 50 samples", "'y' holds 49"]),
    ],
    ids=["nan", "label-out-of-range", "wrong-shape", "float-labels", "length-mismatch"],
)
def test_prepare_bad_arrays_name_the_file_key_and_value_and_write_nothing(
    tmp_path: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str], corrupt: object, expected: list[str]
) -> None:
    x, y = corrupt(*_shard(mnist1d))  # type: ignore[operator]
    source = tmp_path / "mine.npz"
    np.savez(source, x=x, y=y)

    code, _, err = _prepare(capsys, "--dataset", "mnist1d", "--npz", source, "--out", tmp_path / "site")

    assert code == 1
    assert str(source) in err and len(err.strip().splitlines()) == 1
    for fragment in expected:
        assert fragment in err
    assert _nothing_written(tmp_path / "site")


def test_prepare_npy_renamed_npz_garbage_and_missing_files_are_refused(
    tmp_path: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed, garbage = tmp_path / "renamed.npz", tmp_path / "garbage.npz"
    np.save(tmp_path / "x.npy", mnist1d.train.x[:20])
    (tmp_path / "x.npy").rename(renamed)
    garbage.write_bytes(b"PK\x03\x04 this is not a zip archive at all")

    results = {name: _prepare(capsys, "--dataset", "mnist1d", "--npz", path, "--out", tmp_path / "site")
               for name, path in (("renamed", renamed), ("garbage", garbage), ("missing", tmp_path / "none.npz"))}

    assert all(code == 1 for code, _, _ in results.values())
    assert "single .npy array" in results["renamed"][2] and str(renamed) in results["renamed"][2]
    assert "not a readable .npz" in results["garbage"][2] and str(garbage) in results["garbage"][2]
    assert "does not exist" in results["missing"][2] and "none.npz" in results["missing"][2]
    assert _nothing_written(tmp_path / "site")


def test_prepare_failure_leaves_an_existing_site_untouched(
    tmp_path: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _shard(mnist1d)
    np.savez(tmp_path / "good.npz", x=x, y=y)
    np.savez(tmp_path / "bad.npz", x=x, y=np.where(np.arange(len(y)) == 0, 10, y))
    assert _prepare(capsys, "--dataset", "mnist1d", "--npz", tmp_path / "good.npz", "--out", tmp_path / "site")[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "site").iterdir()}

    code, _, err = _prepare(capsys, "--dataset", "mnist1d", "--npz", tmp_path / "bad.npz", "--out", tmp_path / "site")

    assert code == 1 and "label 10 at index 0" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "site").iterdir()} == before


def test_prepare_csv_reshapes_features_and_names_a_bad_cell(
    tmp_path: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _shard(mnist1d, 10)
    header = ",".join([f"f{i}" for i in range(40)] + ["label"])
    rows = [",".join([*map(repr, map(float, row)), str(label)]) for row, label in zip(x, y, strict=True)]
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("\n".join([header, *rows]) + "\n")
    cells = rows[3].split(",")
    cells[7] = "abc"
    bad.write_text("\n".join([header, *rows[:3], ",".join(cells)]))

    ok = _prepare(capsys, "--dataset", "mnist1d", "--csv", good, "--label-column", "label", "--out", tmp_path / "a")
    failed = _prepare(capsys, "--dataset", "mnist1d", "--csv", bad, "--label-column", "label", "--out", tmp_path / "b")
    no_column = _prepare(capsys, "--dataset", "mnist1d", "--csv", good, "--label-column", "y", "--out", tmp_path / "c")

    assert ok[0] == 0
    with np.load(tmp_path / "a" / "train.npz") as train:
        assert train["x"].shape == (8, 40)
    assert failed[0] == 1 and "line 5" in failed[2] and "'f7'" in failed[2] and "'abc'" in failed[2]
    assert no_column[0] == 1 and "no label column 'y'" in no_column[2]
    assert _nothing_written(tmp_path / "b") and _nothing_written(tmp_path / "c")


def test_prepare_image_folders_by_class_name_read_png_and_npy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    names = [f"class-{c}" for c in "abcdefghij"]  # sorted order gives labels 0..9
    for index, name in enumerate(names):
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        pixels = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "one.png")
        np.save(folder / "two.npy", np.full((28, 28), index / 10, dtype=np.float32))

    code, out, _ = _prepare(capsys, "--dataset", "fashion-mnist", "--images", tmp_path / "images",
                            "--out", tmp_path / "site", "--test-fraction", "0.5")

    assert code == 0 and "'class-c': 2" in out
    with np.load(tmp_path / "site" / "train.npz") as train, np.load(tmp_path / "site" / "test.npz") as test:
        x, y = np.concatenate([train["x"], test["x"]]), np.concatenate([train["y"], test["y"]])
    assert x.shape == (20, 28, 28) and 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).tolist() == [2] * 10


def test_prepare_image_folder_with_a_missing_class_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        np.save(tmp_path / "images" / name / "a.npy", np.zeros((28, 28), dtype=np.float32))

    code, _, err = _prepare(capsys, "--dataset", "fashion-mnist", "--images", tmp_path / "images",
                            "--out", tmp_path / "site")

    assert code == 1 and "2 class folders" in err and "all 10 classes" in err
    assert _nothing_written(tmp_path / "site")


def test_prepare_arrays_refuses_an_npz_given_as_npy(
    tmp_path: Path, mnist1d: DatasetSplits, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _shard(mnist1d)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "archive.npz", y=y)
    (tmp_path / "archive.npz").rename(tmp_path / "y-archive.npy")

    ok = _prepare(capsys, "--dataset", "mnist1d", "--arrays", tmp_path / "x.npy", tmp_path / "y.npy",
                  "--out", tmp_path / "a")
    failed = _prepare(capsys, "--dataset", "mnist1d", "--arrays", tmp_path / "x.npy", tmp_path / "y-archive.npy",
                      "--out", tmp_path / "b")

    assert ok[0] == 0
    assert failed[0] == 1 and "y-archive.npy" in failed[2] and "not a single .npy array" in failed[2]
    assert _nothing_written(tmp_path / "b")
