"""lowrank: exact for matrices of rank <= r, the best rank-r approximation otherwise."""

from __future__ import annotations

import torch

from fedkd.compression.codec import RAW
from fedkd.compression.lowrank import LowRankCodec


def test_lowrank_rank_r_matrix_decodes_exactly() -> None:
    # Prepare: a 20 x 30 matrix of rank 2, built by hand from two outer products.
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 2, generator=generator), torch.randn(2, 30, generator=generator)
    matrix = a @ b
    codec = LowRankCodec(2)
    # Execute
    parts = codec.encode(matrix)
    # Assert: two factors of 20x2 and 2x30 travel instead of 600 values.
    assert parts["left"].shape == (20, 2) and parts["right"].shape == (2, 30)
    assert torch.allclose(codec.decode(parts), matrix, atol=1e-5)


def test_lowrank_rank_one_keeps_the_leading_singular_direction() -> None:
    # Prepare: diag(3, 1) padded; its best rank-1 approximation is diag(3, 0).
    matrix = torch.zeros(6, 5)
    matrix[0, 0], matrix[1, 1] = 3.0, 1.0
    codec = LowRankCodec(1)
    expected = torch.zeros(6, 5)
    expected[0, 0] = 3.0
    assert torch.allclose(codec.decode(codec.encode(matrix)), expected, atol=1e-6)


def test_lowrank_vectors_and_small_matrices_travel_raw() -> None:
    codec = LowRankCodec(2)
    bias, small = torch.arange(5.0), torch.ones(3, 3)
    assert set(codec.encode(bias)) == {RAW}
    assert set(codec.encode(small)) == {RAW}  # 2 * (3 + 3) >= 9 values
    assert torch.equal(codec.decode(codec.encode(bias)), bias)
