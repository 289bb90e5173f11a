"""``fedkd export``: a file that plain torch (or onnxruntime) runs, with the student's predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli.main import main
from fedkd.checkpoint import save_model
from fedkd.models import build_model

# Loads an exported file with fedkd made unimportable and prints its logits on the inputs in an .npy file.
LOADERS = {
    "torchscript": "import torch; model = torch.jit.load(sys.argv[1]); "
                   "logits = model(torch.from_numpy(x)).detach().numpy()",
    "onnx": "import onnxruntime; session = onnxruntime.InferenceSession(sys.argv[1], "
            "providers=['CPUExecutionProvider']); logits = session.run(None, {'input': x})[0]",
}
RUNNER = ("import sys, json, numpy as np; sys.modules['fedkd'] = None; x = np.load(sys.argv[2]); {load}; "
          "print(json.dumps(logits.tolist()))")


@pytest.fixture
def student(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(3)
    model = build_model("cnn-small", input_shape=(28, 28), num_classes=10).eval()
    path = tmp_path / "student.safetensors"
    save_model(path, model, architecture="cnn-small", input_shape=(28, 28), num_classes=10)
    return path, model


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_file_runs_without_fedkd_and_predicts_as_the_student(
    tmp_path: Path, student: tuple[Path, torch.nn.Module], fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    path, model = student
    x = np.random.default_rng(1).random((17, 28, 28), dtype=np.float32)  # a batch size the export never saw
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / f"student.{fmt}"

    # Execute: export, then load the file in a fresh interpreter where fedkd cannot be imported.
    code = main(["export", "--student", str(path), "--format", fmt, "--out", str(out)])
    loaded = subprocess.run([sys.executable, "-c", RUNNER.format(load=LOADERS[fmt]), str(out), str(tmp_path / "x.npy")],
                            capture_output=True, text=True, check=True, cwd=tmp_path)

    # Assert
    assert code == 0 and f"wrote {out} ({fmt}" in capsys.readouterr().out
    logits = np.array(json.loads(loaded.stdout.splitlines()[-1]))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.array_equal(logits.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["student.safetensors", "x.npy", out.name])


def test_export_onnx_without_the_extra_names_it_and_writes_nothing(
    tmp_path: Path, student: tuple[Path, torch.nn.Module], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    import fedkd.extras

    real = fedkd.extras.importlib.util.find_spec
    monkeypatch.setattr(fedkd.extras.importlib.util, "find_spec",
                        lambda name: None if name == "onnxruntime" else real(name))

    code = main(["export", "--student", str(student[0]), "--format", "onnx", "--out", str(tmp_path / "s.onnx")])

    assert code == 2
    assert "pip install 'fedkd[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "s.onnx").exists() and not list(tmp_path.glob(".s.onnx*"))
