"""Compress a site's student update for the reply: ``received global - trained``, encoded by name.

The update is computed after training (and after any DP-SGD noise, so compression
is post-processing and costs no privacy). Top-k's error feedback (what the
encoding dropped) stays in the node's state and joins the next round's update.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context

from fedkd.compression.registry import ERROR_FEEDBACK, make_codec
from fedkd.compression.update import encode_update
from fedkd.config import FedKDConfig

RESIDUAL_KEY = "compression-residual"
# The reply record that names the codec the "arrays" record is encoded with.
COMPRESSION_RECORD = "compression"


def compressed_reply(config: FedKDConfig, context: Context, received: Mapping[str, torch.Tensor],
                     trained: Mapping[str, torch.Tensor], server_round: int) -> dict[str, ArrayRecord | ConfigRecord]:
    """The reply records carrying the encoded update in place of the trained weights."""
    codec = make_codec(config.update_compression, topk_fraction=config.compression_topk_fraction,
                       rank=config.compression_rank)
    update = {name: received[name].detach().cpu() - value.detach().cpu() for name, value in trained.items()}
    residual = None
    if config.update_compression in ERROR_FEEDBACK:
        stored = context.state.array_records.get(RESIDUAL_KEY)
        residual = stored.to_torch_state_dict() if stored is not None else {}
    generator = torch.Generator().manual_seed(_seed(config.seed, server_round, context.node_id))
    encoded, remainder = encode_update(update, codec, residual=residual, generator=generator)
    if residual is not None:
        context.state[RESIDUAL_KEY] = ArrayRecord(remainder)
    return {"arrays": ArrayRecord(encoded),
            COMPRESSION_RECORD: ConfigRecord({"codec": config.update_compression})}


def _seed(seed: int, server_round: int, node_id: int) -> int:
    return zlib.crc32(f"{seed}/{server_round}/{node_id}".encode())
