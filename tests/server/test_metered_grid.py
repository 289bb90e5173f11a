"""Reply polling: every reply comes back, sooner than Flower's 0.1 s polls, and a timeout ends the wait."""

from __future__ import annotations

import time

from flwr.app import Error, Message, Metadata, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode

from server.metered_grid import attribute_unavailable, poll_replies


def _reply(to: str) -> Message:
    metadata = Metadata(run_id=1, message_id="", src_node_id=1, dst_node_id=0, reply_to_message_id=to,
                        group_id="", created_at=0.0, ttl=10.0, message_type="train")
    return Message(metadata=metadata, content=RecordDict())


class _SlowGrid:
    """Answers message ``i`` at the ``i + 1``-th pull after the push (``never``: not at all)."""

    def __init__(self, count: int, never: frozenset[int] = frozenset()):
        self.count, self.never, self.pulls = count, never, 0

    def push_messages(self, messages: list[Message]) -> list[str]:
        return [f"m{i}" for i in range(self.count)]

    def pull_messages(self, message_ids: set[str]) -> list[Message]:
        self.pulls += 1
        ready = {f"m{i}" for i in range(self.count) if i < self.pulls and i not in self.never}
        return [_reply(i) for i in sorted(ready & set(message_ids))]


def test_poll_replies_replies_arriving_over_pulls_all_returned_once() -> None:
    grid = _SlowGrid(4)

    started = time.monotonic()
    replies = poll_replies(grid, [], timeout=None)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started

    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["m0", "m1", "m2", "m3"]
    assert grid.pulls == 4
    assert elapsed < 0.1  # 2 + 4 + 8 ms of waits, where Flower's grid waits 0.1 s per pull


def test_poll_replies_missing_reply_stops_at_the_timeout_with_those_in() -> None:
    grid = _SlowGrid(3, never=frozenset({2}))

    started = time.monotonic()
    replies = poll_replies(grid, [], timeout=0.2)  # type: ignore[arg-type]

    assert 0.2 <= time.monotonic() - started < 1.0
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["m0", "m1"]


def test_poll_replies_no_messages_returns_without_waiting() -> None:
    class _Empty(_SlowGrid):
        def push_messages(self, messages: list[Message]) -> list[str]:
            return []

    grid = _Empty(0)
    assert poll_replies(grid, [], timeout=None) == []  # type: ignore[arg-type]
    assert grid.pulls == 0


def _message(message_id: str, src: int, dst: int, reply_to: str = "", error: bool = False) -> Message:
    metadata = Metadata(run_id=1, message_id=message_id, src_node_id=src, dst_node_id=dst,
                        reply_to_message_id=reply_to, group_id="", created_at=0.0, ttl=10.0, message_type="train")
    if error:
        return Message(metadata=metadata, error=Error(code=ErrorCode.NODE_UNAVAILABLE, reason="node unavailable"))
    return Message(metadata=metadata, content=RecordDict())


def test_attribute_unavailable_superlink_error_reply_names_the_dead_site_others_unchanged() -> None:
    # Prepare: three messages to sites 11, 12, 13; site 12 died, so the SuperLink (node 1) answered for it;
    # site 13 sent its own error.
    sent = [_message(f"m{node}", SUPERLINK_NODE_ID, node) for node in (11, 12, 13)]
    replies = [_message("r11", 11, SUPERLINK_NODE_ID, "m11"),
               _message("", SUPERLINK_NODE_ID, SUPERLINK_NODE_ID, "m12", error=True),
               _message("r13", 13, SUPERLINK_NODE_ID, "m13", error=True)]

    # Execute
    attributed = attribute_unavailable(replies, sent)

    # Assert
    assert [r.metadata.src_node_id for r in attributed] == [11, 12, 13]
    assert attributed[1].error.reason == "node unavailable"
