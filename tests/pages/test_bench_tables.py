"""The measured tables of hand-written pages are what the benchmarks' JSON says."""

from __future__ import annotations

import pytest

from pages import bench_tables


@pytest.mark.parametrize("name", bench_tables.TABLES)
def test_bench_table_in_its_page_is_what_the_generator_writes_now(name: str) -> None:
    # On a failure: run `python -m pages.bench_tables` and commit the result.
    path, table = bench_tables.TABLES[name]
    page = path.read_text()
    assert page == bench_tables.rendered(page, name, table())


def test_bench_table_rendering_replaces_only_the_marked_block() -> None:
    page = "before\n<!-- generated:x (python -m pages.bench_tables) -->\nold\n<!-- end:x -->\nafter\n"
    assert bench_tables.rendered(page, "x", "new") == page.replace("old", "new")
    assert bench_tables.rendered(bench_tables.rendered(page, "x", "new"), "x", "new") == page.replace("old", "new")
