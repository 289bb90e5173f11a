"""int8: values on the grid of max|x|/127, stochastic rounding unbiased in expectation."""

from __future__ import annotations

import torch

from fedkd.compression.int8 import Int8Codec


def test_int8_values_on_the_grid_decode_exactly() -> None:
    # Prepare: max |x| = 127 makes the scale 1, so integers are on the grid.
    values = torch.tensor([127.0, -127.0, 0.0, 5.0, -64.0])
    # Execute
    parts = Int8Codec().encode(values, generator=torch.Generator().manual_seed(0))
    # Assert
    assert parts["q"].dtype == torch.int8
    assert parts["scale"].item() == 1.0
    assert torch.equal(Int8Codec().decode(parts), values)


def test_int8_mean_over_many_draws_is_the_value() -> None:
    # Prepare: scale = 1/127 (max 1.0); 0.3 lies between grid points 38/127 and 39/127.
    values = torch.tensor([1.0, 0.3, -0.55, 0.001])
    generator = torch.Generator().manual_seed(1)
    draws = 20000
    # Execute
    mean = sum(Int8Codec().decode(Int8Codec().encode(values, generator=generator)) for _ in range(draws)) / draws
    # Assert: each draw's error is within one grid step (1/127), so the mean's standard error is < 0.5/127/sqrt(n).
    assert torch.allclose(mean, values, atol=5 * 0.5 / 127 / draws ** 0.5)


def test_int8_each_draw_rounds_to_one_of_the_two_neighbouring_grid_points() -> None:
    values = torch.tensor([1.0, 0.3])
    for seed in range(20):
        decoded = Int8Codec().decode(Int8Codec().encode(values, generator=torch.Generator().manual_seed(seed)))
        steps = decoded[1].item() * 127
        assert min(abs(steps - 38), abs(steps - 39)) < 1e-4


def test_int8_zero_tensor_decodes_to_zero() -> None:
    decoded = Int8Codec().decode(Int8Codec().encode(torch.zeros(4)))
    assert torch.equal(decoded, torch.zeros(4))
