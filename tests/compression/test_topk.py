"""topk: the k largest magnitudes survive; error feedback carries the rest into the next round."""

from __future__ import annotations

import pytest
import torch

from fedkd.compression.topk import TopKCodec, kept
from fedkd.compression.update import decode_update, encode_update


def test_topk_keeps_the_k_largest_magnitudes_and_zeroes_the_rest() -> None:
    # Prepare: 8 values, fraction 0.25 keeps ceil(2) = 2: -9 and 7.
    values = torch.tensor([[1.0, -9.0, 0.5, 3.0], [7.0, -2.0, 0.0, 4.0]])
    codec = TopKCodec(0.25)
    # Execute
    decoded = codec.decode(codec.encode(values))
    # Assert
    assert torch.equal(decoded, torch.tensor([[0.0, -9.0, 0.0, 0.0], [7.0, 0.0, 0.0, 0.0]]))


def test_topk_kept_count_rounds_up_and_keeps_at_least_one() -> None:
    assert (kept(10, 0.25), kept(10, 0.01), kept(10, 1.0), kept(0, 0.5)) == (3, 1, 10, 0)


def test_topk_fraction_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="fraction=0"):
        TopKCodec(0.0)


def test_topk_error_feedback_accumulates_the_dropped_entries() -> None:
    # Prepare: fraction 0.5 of 2 entries keeps one. Round 1 sends 5 and keeps 1 back.
    codec = TopKCodec(0.5)
    update = {"w": torch.tensor([5.0, 1.0])}
    # Execute: round 1
    sent1, residual = encode_update(update, codec, residual={})
    # Assert
    assert torch.equal(decode_update(sent1, codec)["w"], torch.tensor([5.0, 0.0]))
    assert torch.equal(residual["w"], torch.tensor([0.0, 1.0]))
    # Execute: round 2 with a small update; the carried 1 + 0.5 now beats 0.2 + 0 and is sent.
    sent2, residual = encode_update({"w": torch.tensor([0.2, 0.5])}, codec, residual=residual)
    # Assert
    assert torch.allclose(decode_update(sent2, codec)["w"], torch.tensor([0.0, 1.5]))
    assert torch.allclose(residual["w"], torch.tensor([0.2, 0.0]))


def test_topk_error_feedback_sent_plus_residual_equals_everything_offered() -> None:
    codec = TopKCodec(0.1)
    generator = torch.Generator().manual_seed(0)
    residual: dict[str, torch.Tensor] = {}
    total_sent, total_offered = torch.zeros(50), torch.zeros(50)
    for _ in range(5):
        update = {"w": torch.randn(50, generator=generator)}
        sent, residual = encode_update(update, codec, residual=residual)
        total_sent += decode_update(sent, codec)["w"]
        total_offered += update["w"]
    assert torch.allclose(total_sent + residual["w"], total_offered, atol=1e-5)
