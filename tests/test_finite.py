"""Naming non-finite values: count, first value and index; integers and finite floats pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedkd.finite import NonFiniteError, describe_non_finite, non_finite_scalars, require_finite


def test_describe_non_finite_names_count_first_value_and_index() -> None:
    values = np.zeros((3, 4), dtype=np.float32)
    values[1, 2], values[2, 0] = -np.inf, np.nan

    assert describe_non_finite("x", values) == "x holds 2 non-finite value(s) of 12 (first: -inf at index (1, 2))"
    assert describe_non_finite("w", torch.tensor([1.0, math.nan])) == (
        "w holds 1 non-finite value(s) of 2 (first: nan at index 1)")


@pytest.mark.parametrize("values", [np.arange(5), np.ones((2, 2)), torch.zeros(3, dtype=torch.int64),
                                    np.array([np.finfo(np.float32).max], dtype=np.float32)])
def test_describe_non_finite_finite_or_integer_values_give_none(values: np.ndarray | torch.Tensor) -> None:
    assert describe_non_finite("v", values) is None


def test_non_finite_scalars_names_the_first_bad_key_also_inside_lists() -> None:
    assert non_finite_scalars([("a", 1.0), ("b", 3), ("c", [0.5, math.inf])]) == "c=inf is not a finite number"
    assert non_finite_scalars([("a", 1.0), ("b", "nan")]) is None


def test_require_finite_raises_naming_where() -> None:
    with pytest.raises(NonFiniteError, match=r"^site/train.npz: y holds 1"):
        require_finite("site/train.npz", {"x": np.ones(2), "y": np.array([math.nan])})
