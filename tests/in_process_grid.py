"""A Flower ``Grid`` for server tests that answer messages in this process, without a SuperLink."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid

NO_SUPERLINK = "an in-process test grid has no SuperLink: it answers through send_and_receive only"


class InProcessGrid(Grid):
    """The nodes ``node_ids``; a subclass answers in :meth:`send_and_receive`.

    Every other part of the ``Grid`` interface that needs a SuperLink (the run, pushing
    and pulling messages) raises, so a test that reaches one fails saying so.
    """

    def __init__(self, node_ids: Iterable[int]) -> None:
        self.node_ids = list(node_ids)

    @property
    def run(self) -> Any:
        raise NotImplementedError(NO_SUPERLINK)

    def set_run(self, run: Any) -> None:
        raise NotImplementedError(NO_SUPERLINK)

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content=content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.node_ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError(NO_SUPERLINK)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError(NO_SUPERLINK)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        raise NotImplementedError(NO_SUPERLINK)
