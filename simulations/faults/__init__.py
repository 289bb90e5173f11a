"""The bad-input and fault catalogue: every door a bad value can come in by, and what fedkd does with it.

Each :class:`Fault` prepares a bad input in an empty folder, then acts as fedkd would
on it. A *refused* fault must raise its error type with a message naming the bad
value; a *handled* fault (a dropped reply, a rebuilt cache entry, an empty split)
returns what happened. Either way nothing may be left half-written: no file
appears in the folder while acting except those a handled fault rebuilds.

``tests/simulations/test_fault_catalogue.py`` runs every case;
``python -m pages.reliability_page`` renders the observed messages into
``docs/reliability.md``, so the page shows what a user would really read.
"""

from __future__ import annotations

from simulations.faults.fault import Fault, Observation, observe
from simulations.faults.inputs import INPUT_FAULTS
from simulations.faults.models import MODEL_FAULTS

__all__ = ["Fault", "Observation", "catalogue", "observe"]


def catalogue() -> list[Fault]:
    """Every fault, by door."""
    return [*INPUT_FAULTS, *MODEL_FAULTS]
