"""Every bad input and fault of the catalogue: refused with its value named, or handled; nothing half-written."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from simulations.faults import Fault, catalogue, observe

FAULTS = catalogue()


def test_fault_catalogue_has_thirty_distinct_cases_at_every_door() -> None:
    ids = [f.id for f in FAULTS]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)
    assert {f.door for f in FAULTS} >= {"config", "node config", "site data", "checkpoint", "cache", "reply", "split"}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_fault_catalogue_case_is_refused_naming_the_value_or_handled_and_nothing_is_half_written(
    fault: Fault, tmp_path: Path
) -> None:
    # Execute: prepare the bad input, act on it as fedkd does.
    seen = observe(fault, tmp_path)

    # Assert: the expected error (or none), the value named, only the allowed files (re)written, no temporaries.
    if fault.refused is None:
        assert seen.error is None, seen.message
    else:
        assert seen.error is not None and issubclass(seen.error, fault.refused), (seen.error, seen.message)
    assert fault.expect in seen.message
    assert "allow_pickle" not in seen.message
    assert all(any(fnmatch.fnmatch(name, p) for p in fault.may_write) for name in seen.written), seen.written
    assert not list(tmp_path.rglob("*.part"))
