"""The README's configuration table matches the code."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from fedkd.config import FedKDConfig, to_key

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_config_table_lists_every_key_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (`[^|]*`) \|", README.read_text(), flags=re.MULTILINE))

    expected = {}
    for field in dataclasses.fields(FedKDConfig):
        default = field.default
        expected[to_key(field.name)] = f'`"{default}"`' if isinstance(default, str) else f"`{default}`"

    assert {k: rows.get(k) for k in expected} == expected
