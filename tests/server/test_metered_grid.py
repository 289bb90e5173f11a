"""Reply polling: every reply comes back, sooner than Flower's 0.1 s polls, and a timeout ends the wait."""

from __future__ import annotations

import time

from flwr.app import Message, Metadata, RecordDict

from server.metered_grid import poll_replies


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
