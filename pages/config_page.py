"""Rewrite the config key lists that mirror ``fedkd.config.FedKDConfig``.

``python -m pages.config_page`` regenerates the ``[tool.flwr.app.config]``
block of ``pyproject.toml`` (Flower accepts only keys listed there) and the
configuration table of ``README.md``. Tests fail when either drifts from the code.
"""

from __future__ import annotations

import dataclasses

from fedkd.config import FedKDConfig, to_key
from fedkd.io import write_atomic
from pages.paths import ROOT


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def pyproject_block() -> str:
    """The ``[tool.flwr.app.config]`` lines, one key each."""
    return "\n".join(f"{k} = {_toml(v)}" for k, v in FedKDConfig().to_dict().items())


def readme_table() -> str:
    """The README's markdown table of keys, defaults and meanings."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for field in dataclasses.fields(FedKDConfig):
        default = f'`"{field.default}"`' if isinstance(field.default, str) else f"`{field.default}`"
        rows.append(f"| `{to_key(field.name)}` | {default} | {field.metadata['help']} |")
    return "\n".join(rows)


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    head = text.index(start) + len(start)
    tail = text.index(end, head)
    return text[:head] + body + text[tail:]


def main() -> None:
    """Rewrite both files in place."""
    pyproject = ROOT / "pyproject.toml"
    text = _replace_between(pyproject.read_text(), "[tool.flwr.app.config]\n", "\n\n", pyproject_block())
    write_atomic(pyproject, text.encode())
    readme = ROOT / "README.md"
    text = readme.read_text()
    start = text.index("| key | default | meaning |")
    end = text.index("\n\n", start)
    write_atomic(readme, (text[:start] + readme_table() + text[end:]).encode())


if __name__ == "__main__":
    main()
