"""docs/reliability.md is what pages.reliability_page writes from the fault catalogue now."""

from __future__ import annotations

from pages.paths import ROOT
from pages.reliability_page import PAGE, PROCESS_FAULTS, render
from simulations.faults import catalogue


def test_reliability_page_is_current_with_the_fault_catalogue() -> None:
    page = render()

    assert PAGE.read_text() == page, "docs/reliability.md is stale: run python -m pages.reliability_page"
    assert all(f"| {fault.door} |" in page for fault in catalogue())


def test_reliability_page_process_faults_name_tests_that_exist() -> None:
    for _, _, test in PROCESS_FAULTS:
        path, name = test.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), test
