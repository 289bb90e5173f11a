"""A site's compressed reply: the encoded update of global minus trained, top-k's remainder kept in node state."""

from __future__ import annotations

import torch
from flwr.app import Context, RecordDict

from clients.compression import COMPRESSION_RECORD, RESIDUAL_KEY, compressed_reply
from fedkd.compression.topk import TopKCodec
from fedkd.compression.update import decode_update
from fedkd.config import FedKDConfig


def _context() -> Context:
    return Context(run_id=1, node_id=7, node_config={}, state=RecordDict(), run_config={})


def test_compressed_reply_int8_carries_int8_parts_and_names_its_codec() -> None:
    config = FedKDConfig.from_mapping({"update-compression": "int8"})
    received = {"w": torch.ones(3, 4)}
    records = compressed_reply(config, _context(), received, {"w": torch.zeros(3, 4)}, server_round=1)
    arrays = records["arrays"].to_torch_state_dict()  # type: ignore[union-attr]
    assert arrays["w::q"].dtype == torch.int8
    assert torch.equal(arrays["w::q"].to(torch.float32) * arrays["w::scale"], torch.ones(3, 4))
    assert records[COMPRESSION_RECORD]["codec"] == "int8"  # type: ignore[index]


def test_compressed_reply_topk_keeps_the_remainder_in_node_state_and_sends_it_next_round() -> None:
    # Prepare: fraction 0.5 of two entries sends one; the update is global minus trained.
    config = FedKDConfig.from_mapping({"update-compression": "topk", "compression-topk-fraction": 0.5})
    context = _context()
    codec = TopKCodec(0.5)
    # Execute: round 1, update [4, 1]: 4 is sent, 1 stays behind.
    first = compressed_reply(config, context, {"w": torch.tensor([4.0, 1.0])}, {"w": torch.zeros(2)}, 1)
    residual = context.state.array_records[RESIDUAL_KEY].to_torch_state_dict()
    # Round 2, update [0.3, 0.5]: the carried 1 makes 1.5, which beats 0.3.
    second = compressed_reply(config, context, {"w": torch.tensor([0.3, 0.5])}, {"w": torch.zeros(2)}, 2)
    # Assert
    assert torch.equal(decode_update(first["arrays"].to_torch_state_dict(), codec)["w"],  # type: ignore[union-attr]
                       torch.tensor([4.0, 0.0]))
    assert torch.equal(residual["w"], torch.tensor([0.0, 1.0]))
    assert torch.allclose(decode_update(second["arrays"].to_torch_state_dict(), codec)["w"],  # type: ignore[union-attr]
                          torch.tensor([0.0, 1.5]))


def test_compressed_reply_int8_is_reproducible_for_the_same_seed_round_and_node() -> None:
    config = FedKDConfig.from_mapping({"update-compression": "int8"})
    received, trained = {"w": torch.linspace(-1, 1, 50)}, {"w": torch.zeros(50)}
    first = compressed_reply(config, _context(), received, trained, 3)["arrays"]
    second = compressed_reply(config, _context(), received, trained, 3)["arrays"]
    other = compressed_reply(config, _context(), received, trained, 4)["arrays"]
    assert first["w::q"].numpy().tobytes() == second["w::q"].numpy().tobytes()  # type: ignore[index,union-attr]
    assert first["w::q"].numpy().tobytes() != other["w::q"].numpy().tobytes()  # type: ignore[index,union-attr]
