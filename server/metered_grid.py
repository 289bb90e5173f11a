"""A Grid that counts the bytes of every message the server sends and receives (replies handed on in content order)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from flwr.app import ArrayRecord, Message, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.superlink.grid.inmemory_grid import InMemoryGrid

from server.reply_order import in_content_order


def _value_bytes(value: object) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, str | bytes):
        return len(value)
    return 1 if isinstance(value, bool) else 8


def content_bytes(content: RecordDict) -> int:
    """Payload size of a message: array bytes, plus keys and values of metric and config records.

    (Flower's own ``ConfigRecord.count_bytes`` rejects empty strings, so values are
    counted here: 8 bytes per number, 1 per bool, the length of strings and bytes.)
    """
    total = 0
    for record in content.values():
        if isinstance(record, ArrayRecord):
            total += sum(len(array.data) for array in record.values())
        else:
            total += sum(len(k) + _value_bytes(v) for k, v in record.items())
    return total


class MeteredGrid(Grid):
    """Delegates to another grid and tallies payload bytes in both directions.

    Attributes
    ----------
    bytes_sent, bytes_received : int
        Running totals since creation; read differences per round.
    error_replies : int
        Replies that carried an error instead of content (e.g. a spent privacy budget).
    """

    def __init__(self, inner: Grid):
        self.inner = inner
        self.bytes_sent = 0
        self.bytes_received = 0
        self.error_replies = 0

    @property
    def run(self) -> Run:
        return self.inner.run

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def get_nodes(self) -> Iterable[NodeInfo]:
        return self.inner.get_nodes()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        messages = list(messages)
        self.bytes_sent += sum(content_bytes(m.content) for m in messages if m.has_content())
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._received(self.inner.pull_messages(message_ids))

    def _received(self, messages: Iterable[Message]) -> list[Message]:
        # Replies arrive in completion order; sorting by content makes aggregation (a
        # floating-point sum) independent of which client finished first and of node ids.
        replies = in_content_order(messages)
        self.bytes_received += sum(content_bytes(m.content) for m in replies if m.has_content())
        self.error_replies += sum(1 for m in replies if m.has_error())
        return replies

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        self.bytes_sent += sum(content_bytes(m.content) for m in messages if m.has_content())
        if not isinstance(self.inner, InMemoryGrid):
            replies = list(self.inner.send_and_receive(messages, timeout=timeout))
        else:
            replies = poll_replies(self.inner, messages, timeout=timeout)
        return self._received(attribute_unavailable(replies, messages))


def attribute_unavailable(replies: list[Message], sent: list[Message]) -> list[Message]:
    """Name the site behind each error reply the SuperLink wrote itself.

    When a SuperNode dies mid-round, the SuperLink answers its message with an error
    (node unavailable) whose sender is the SuperLink, not the site. Such a reply is
    given the destination of the message it answers, so the round's ``failures`` name
    the site that failed, and two dead sites do not share one entry.
    """
    destination = {m.metadata.message_id: m.metadata.dst_node_id for m in sent}
    for reply in replies:
        node = destination.get(reply.metadata.reply_to_message_id)
        if reply.has_error() and reply.metadata.src_node_id == SUPERLINK_NODE_ID and node is not None:
            reply.metadata.__dict__["_src_node_id"] = node  # Metadata has no setter; Flower sets ids the same way
    return replies


def poll_replies(grid: Grid, messages: list[Message], *, timeout: float | None,
                 first_wait: float = 0.002, longest_wait: float = 0.02) -> list[Message]:
    """Push ``messages`` and pull their replies until all are in or ``timeout`` seconds pass.

    Flower's in-memory grid (a simulation's) sleeps 0.1 s between pulls, which a
    round pays twice (train, evaluate) on top of the clients' work. A pull there is
    a lookup in memory, so this one waits ``first_wait`` seconds, doubling to
    ``longest_wait``; no messages return at once.
    """
    pending = set(grid.push_messages(messages))
    end = None if timeout is None else time.monotonic() + timeout
    replies: list[Message] = []
    wait = first_wait
    while pending:
        pulled = list(grid.pull_messages(pending))
        replies.extend(pulled)
        pending.difference_update(m.metadata.reply_to_message_id for m in pulled)
        if not pending or (end is not None and time.monotonic() >= end):
            break
        time.sleep(wait)
        wait = min(2 * wait, longest_wait)
    return replies
