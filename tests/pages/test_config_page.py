"""The generated configuration page and pyproject's config block match the code."""

from __future__ import annotations

from pages import config_page
from pages.paths import ROOT


def test_configuration_page_is_what_the_generator_writes_now() -> None:
    # On a failure: run `python -m pages.config_page` and commit the result.
    assert config_page.PAGE.read_text() == config_page.configuration_page()


def test_pyproject_config_block_is_what_the_generator_writes_now() -> None:
    assert "[tool.flwr.app.config]\n" + config_page.pyproject_block() + "\n\n" in (ROOT / "pyproject.toml").read_text()


def test_configuration_page_lists_every_run_and_node_key() -> None:
    from fedkd.config import FedKDConfig
    from fedkd.node_config import NodeConfig

    page = config_page.configuration_page()
    assert all(f"| `{key}` |" in page for key in FedKDConfig.keys() + NodeConfig.keys())
