"""The decoder of compressed updates: replies become ``global - update`` before any layer aggregates them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Strategy

from fedkd.compression.fp16 import Fp16Codec
from fedkd.compression.int8 import Int8Codec
from fedkd.compression.registry import make_codec
from fedkd.compression.update import decode_update, encode_update
from fedkd.config import FedKDConfig
from fedkd.student import build_student
from server.app import layer_strategy
from server.compression_strategy import COMPRESSION_RECORD, CompressionStrategy
from server.metered_grid import content_bytes
from tests.flower_task import inside_task
from tests.in_process_grid import InProcessGrid


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    with inside_task():
        yield


class _Capturing(Strategy):
    """Keeps the replies it is asked to aggregate."""

    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        return []

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        self.seen = [r.content.array_records["arrays"].to_torch_state_dict() for r in replies]
        return None, None

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return []

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        pass


def _reply(arrays: dict[str, torch.Tensor], codec: str, weight: int = 1) -> Message:
    content = RecordDict({"arrays": ArrayRecord(arrays),  # type: ignore[arg-type]
                          "metrics": MetricRecord({"num-examples": weight, "dp-weight": 1}),
                          COMPRESSION_RECORD: ConfigRecord({"codec": codec})})
    return Message(content=content, dst_node_id=0, message_type="train")


GLOBAL = {"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": torch.tensor([0.5, -0.5])}


def test_compression_strategy_inner_sees_global_minus_the_decoded_update() -> None:
    # Prepare
    inner = _Capturing()
    config = FedKDConfig.from_mapping({"update-compression": "int8"})
    wrapper = CompressionStrategy(inner, config)
    wrapper.configure_train(3, ArrayRecord(GLOBAL), ConfigRecord(), grid=None)  # type: ignore[arg-type]
    update = {"w": torch.tensor([[0.1, -0.2], [0.0, 0.3]]), "b": torch.tensor([0.01, 0.02])}
    encoded, _ = encode_update(update, Int8Codec(), generator=torch.Generator().manual_seed(0))
    expected = {k: GLOBAL[k] - v for k, v in decode_update(encoded, Int8Codec()).items()}
    # Execute
    wrapper.aggregate_train(3, [_reply(encoded, "int8")])
    # Assert
    assert list(inner.seen[0]) == ["w", "b"]
    for name, value in expected.items():
        assert torch.equal(inner.seen[0][name], value)


def test_compression_strategy_reply_with_another_codec_is_refused() -> None:
    wrapper = CompressionStrategy(_Capturing(), FedKDConfig.from_mapping({"update-compression": "topk"}))
    wrapper.configure_train(1, ArrayRecord(GLOBAL), ConfigRecord(), grid=None)  # type: ignore[arg-type]
    encoded, _ = encode_update(GLOBAL, Int8Codec())
    with pytest.raises(ValueError, match="encoded with 'int8', expected update-compression='topk'"):
        wrapper.aggregate_train(1, [_reply(encoded, "int8")])


def test_compression_strategy_under_server_side_client_dp_clips_the_decoded_update() -> None:
    # Prepare: FedAvg inside Flower's server-side fixed-clipping DP, inside the decoder (server/app.py's layering).
    config = FedKDConfig.from_mapping({"update-compression": "fp16", "client-dp": "server-fixed",
                                       "client-dp-clipping-norm": 0.5, "client-dp-noise-multiplier": 1e-6})
    strategy, _ = layer_strategy(FedAvg(weighted_by_key="dp-weight", min_available_nodes=2), config, num_nodes=2)
    assert isinstance(strategy, CompressionStrategy)
    strategy.configure_train(1, ArrayRecord(GLOBAL), ConfigRecord(), InProcessGrid([1, 2]))
    # Two sites moved by updates of norm 10 and 0.2 (fp16 represents both exactly).
    big = {"w": torch.full((2, 2), 5.0), "b": torch.zeros(2)}
    small = {"w": torch.zeros(2, 2), "b": torch.tensor([0.2, 0.0])}
    replies = [_reply(encode_update(u, Fp16Codec())[0], "fp16") for u in (big, small)]
    # Execute
    arrays, _ = strategy.aggregate_train(1, replies)
    # Assert: the big update was clipped to norm 0.5 (w entries 0.25), the small one kept; then averaged.
    assert arrays is not None
    result = arrays.to_torch_state_dict()
    assert torch.allclose(result["w"], GLOBAL["w"] - 0.125, atol=1e-4)
    assert torch.allclose(result["b"], GLOBAL["b"] - torch.tensor([0.1, 0.0]), atol=1e-4)


# Each array carries a 128-byte header on the wire, which weighs on the 15k-parameter MLP's few arrays.
@pytest.mark.parametrize("codec, at_most", [("fp16", 0.51), ("int8", 0.28), ("topk", 0.25), ("lowrank", 0.25)])
def test_compressed_student_update_shrinks_the_counted_reply_bytes(codec: str, at_most: float) -> None:
    # Prepare: the default student's update, counted as the metered grid counts a reply.
    config = FedKDConfig.from_mapping({"update-compression": codec})
    state = {k: torch.randn_like(v) for k, v in build_student(config).state_dict().items()}
    full = content_bytes(RecordDict({"arrays": ArrayRecord(state)}))  # type: ignore[arg-type]
    encoded, _ = encode_update(state, make_codec(codec, topk_fraction=0.1, rank=4), residual={})
    # Execute
    compressed = content_bytes(RecordDict({"arrays": ArrayRecord(encoded)}))  # type: ignore[arg-type]
    # Assert
    assert compressed <= at_most * full
