"""A strategy wrapper that decodes compressed student updates before anything aggregates them.

Sites reply with ``received global - trained`` encoded by ``update-compression``
(:mod:`clients.compression`); this wrapper remembers the global arrays it sent
each round and turns every encoded reply back into full weights, ``global -
decoded update``, so the strategies inside it (client-level DP clipping at the
server, FedDF, FedAvg) see plain students.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedkd.compression.codec import Codec
from fedkd.compression.registry import make_codec
from fedkd.compression.update import decode_update
from fedkd.config import FedKDConfig
from server.wrapped_strategy import WrappedStrategy

COMPRESSION_RECORD = "compression"


class CompressionStrategy(WrappedStrategy):
    """Wraps ``inner``; decodes the replies' compressed updates into weights before ``inner`` aggregates."""

    def __init__(self, inner: Strategy, config: FedKDConfig) -> None:
        self.inner = inner
        self.codec_name = config.update_compression
        self.codec: Codec = make_codec(config.update_compression, topk_fraction=config.compression_topk_fraction,
                                       rank=config.compression_rank)
        self.sent: dict[int, dict[str, torch.Tensor]] = {}

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self.sent = {server_round: arrays.to_torch_state_dict()}
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        for reply in replies:
            if reply.has_content():
                reply.content = self.decoded(server_round, reply.content)
        return self.inner.aggregate_train(server_round, replies)

    def decoded(self, server_round: int, content: RecordDict) -> RecordDict:
        """``content`` with its encoded update replaced by the weights ``global - update``.

        Raises
        ------
        ValueError
            For a reply without the codec record, with another codec, or for a round never sent.
        """
        record = content.config_records.get(COMPRESSION_RECORD)
        if record is None or record.get("codec") != self.codec_name:
            found = None if record is None else record.get("codec")
            raise ValueError(f"a reply is encoded with {found!r}, expected update-compression={self.codec_name!r}")
        if server_round not in self.sent:
            raise ValueError(f"round {server_round}: no global arrays were sent to decode against")
        sent = self.sent[server_round]
        update = decode_update(content.array_records["arrays"].to_torch_state_dict(), self.codec)
        if list(update) != list(sent):
            raise ValueError(f"the decoded update names {sorted(update)}, the global student {sorted(sent)}")
        weights = {name: (sent[name] - update[name].to(sent[name].dtype)) for name in sent}
        rest = {key: value for key, value in content.items() if key not in ("arrays", COMPRESSION_RECORD)}
        return RecordDict({"arrays": ArrayRecord(weights), **rest})

