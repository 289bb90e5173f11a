"""Teacher trust masks against hand-worked examples."""

from __future__ import annotations

import math

import pytest
import torch

from fedkd.losses.trust import TRUST_MEASURES, confidence_mask


def test_confidence_mask_max_prob_hand_worked_example_matches() -> None:
    # Prepare: probabilities [0.7, 0.2, 0.1] and [0.4, 0.35, 0.25].
    logits = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]], dtype=torch.float64).log()

    # Execute / Assert
    assert confidence_mask(logits, threshold=0.69).tolist() == [1.0, 0.0]
    assert confidence_mask(logits, threshold=0.39).tolist() == [1.0, 1.0]
    assert confidence_mask(logits, threshold=0.71).tolist() == [0.0, 0.0]
    assert confidence_mask(logits, threshold=0.0).tolist() == [1.0, 1.0]


def test_confidence_mask_entropy_hand_worked_example_matches() -> None:
    # Prepare. Row 0: two of four classes at 1/2 -> H = log 2, / log 4 = 0.5. Row 1: uniform -> 1.
    # Row 2: one class at 1 -> 0.
    logits = torch.tensor([[0.0, 0.0, -1e4, -1e4], [1.0, 1.0, 1.0, 1.0], [1e4, 0.0, 0.0, 0.0]], dtype=torch.float64)

    # Execute / Assert
    assert confidence_mask(logits, threshold=0.49, measure="entropy").tolist() == [0.0, 0.0, 1.0]
    assert confidence_mask(logits, threshold=0.51, measure="entropy").tolist() == [1.0, 0.0, 1.0]
    assert confidence_mask(logits, threshold=1.0, measure="entropy").tolist() == [1.0, 1.0, 1.0]
    assert confidence_mask(logits, threshold=0.0, measure="entropy").tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("measure", TRUST_MEASURES)
def test_confidence_mask_returns_float_mask_of_batch_shape_without_gradient(measure: str) -> None:
    logits = torch.randn(5, 3, requires_grad=True)
    mask = confidence_mask(logits, threshold=0.5, measure=measure)
    assert mask.shape == (5,) and mask.dtype == torch.float32 and not mask.requires_grad
    assert set(mask.tolist()) <= {0.0, 1.0}


def test_confidence_mask_unknown_measure_raises_value_error_listing_allowed() -> None:
    with pytest.raises(ValueError, match=r"max-prob.*entropy.*'margin'"):
        confidence_mask(torch.zeros(2, 3), threshold=0.5, measure="margin")


@pytest.mark.parametrize("threshold", [-0.1, 1.01, math.nan])
def test_confidence_mask_threshold_outside_unit_interval_raises_value_error(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        confidence_mask(torch.zeros(2, 3), threshold=threshold)
