"""fp16: exact on values float16 represents, nearest float16 otherwise."""

from __future__ import annotations

import torch

from fedkd.compression.fp16 import Fp16Codec


def test_fp16_representable_values_decode_exactly() -> None:
    # Prepare: halves, quarters, powers of two and small integers are float16 values.
    values = torch.tensor([[0.5, -0.25, 1024.0], [3.0, -7.0, 2.0 ** -10]])
    # Execute
    decoded = Fp16Codec().decode(Fp16Codec().encode(values))
    # Assert
    assert torch.equal(decoded, values)
    assert decoded.dtype == torch.float32


def test_fp16_parts_take_two_bytes_a_value() -> None:
    parts = Fp16Codec().encode(torch.zeros(10, 3))
    assert sum(p.numel() * p.element_size() for p in parts.values()) == 60


def test_fp16_unrepresentable_value_rounds_to_the_nearest_half_precision_value() -> None:
    # 1 + 2^-12 lies below the midpoint between 1 and 1 + 2^-10 (float16's spacing at 1).
    decoded = Fp16Codec().decode(Fp16Codec().encode(torch.tensor([1.0 + 2.0 ** -12])))
    assert decoded.item() == 1.0
