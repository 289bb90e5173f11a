"""Codecs by config name (``update-compression``); ``none`` sends the trained weights as they are."""

from __future__ import annotations

from collections.abc import Callable

from fedkd.compression.codec import Codec
from fedkd.compression.fp16 import Fp16Codec
from fedkd.compression.int8 import Int8Codec
from fedkd.compression.lowrank import LowRankCodec
from fedkd.compression.topk import TopKCodec

# name -> factory(topk_fraction, rank)
CodecFactory = Callable[[float, int], Codec]

CODECS: dict[str, CodecFactory] = {
    "fp16": lambda fraction, rank: Fp16Codec(),
    "int8": lambda fraction, rank: Int8Codec(),
    "topk": lambda fraction, rank: TopKCodec(fraction),
    "lowrank": lambda fraction, rank: LowRankCodec(rank),
}

# Codecs whose dropped remainder each site carries into its next round.
ERROR_FEEDBACK = frozenset({"topk"})

COMPRESSIONS = ("none", *CODECS)


def register(name: str, factory: CodecFactory) -> None:
    """Add a codec under ``name``; a name already taken is refused."""
    if name in CODECS or name == "none":
        raise ValueError(f"codec {name!r} is already registered")
    CODECS[name] = factory


def make_codec(name: str, *, topk_fraction: float, rank: int) -> Codec:
    """The codec called ``name``.

    Raises
    ------
    ValueError
        For a name the registry does not hold.
    """
    if name not in CODECS:
        raise ValueError(f"update-compression={name!r} is not a codec: choose one of {', '.join(CODECS)}")
    return CODECS[name](topk_fraction, rank)
