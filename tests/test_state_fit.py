"""A received state is checked against the model's trained tensors by name and shape."""

from __future__ import annotations

import pytest
import torch

from fedkd.state_fit import check_state_fits

OWN = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}


def test_check_state_fits_same_names_and_shapes_passes() -> None:
    check_state_fits(OWN, {"a": torch.ones(2, 3), "b": torch.ones(4)}, kind="adapter", owner="student")


@pytest.mark.parametrize(("state", "message"), [
    ({"a": torch.ones(2, 3)}, r"adapter state does not match the student: missing \['b'\], unexpected \[\]"),
    ({"a": torch.ones(2, 3), "b": torch.ones(4), "c": torch.ones(1)}, r"unexpected \['c'\] \(0 and 1 in all\)"),
    ({"a": torch.ones(3, 2), "b": torch.ones(4)}, r"adapter tensor a has shape \(3, 2\), the student's is \(2, 3\)"),
])
def test_check_state_fits_other_names_or_shapes_are_refused_naming_them(state: dict[str, torch.Tensor],
                                                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_state_fits(OWN, state, kind="adapter", owner="student")
