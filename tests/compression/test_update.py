"""A state dict through a codec: keys, raw non-float tensors, refusals; the registry."""

from __future__ import annotations

import pytest
import torch

from fedkd.compression.fp16 import Fp16Codec
from fedkd.compression.registry import CODECS, make_codec, register
from fedkd.compression.update import decode_update, encode_update


def test_update_round_trip_keeps_names_order_and_non_float_tensors() -> None:
    update = {"layer.weight": torch.tensor([[0.5, 1.5]]), "layer.bias": torch.tensor([2.0]),
              "bn.num_batches_tracked": torch.tensor(7)}
    encoded, residual = encode_update(update, Fp16Codec())
    decoded = decode_update(encoded, Fp16Codec())
    assert list(decoded) == list(update)
    assert residual == {}
    assert decoded["bn.num_batches_tracked"].dtype == torch.int64 and decoded["bn.num_batches_tracked"].item() == 7
    assert torch.equal(decoded["layer.weight"], update["layer.weight"])


def test_update_key_without_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="'weight'"):
        decode_update({"weight": torch.zeros(1)}, Fp16Codec())


def test_registry_unknown_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="update-compression='zip'.*fp16, int8, topk, lowrank"):
        make_codec("zip", topk_fraction=0.1, rank=1)


def test_registry_refuses_a_duplicate_name() -> None:
    with pytest.raises(ValueError, match="'int8' is already registered"):
        register("int8", CODECS["int8"])
