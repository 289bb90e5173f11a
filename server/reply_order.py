"""The order the server aggregates replies in: by their content, never by who sent them or when.

Simulated node ids are drawn at random each run and replies arrive in completion order; an
aggregation is a floating-point sum, so ordering by either would change the global student from
run to run. Ordering by a digest of the content (less the keys that name the sender) makes runs of
one config reproducible bit for bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from flwr.app import Array, Message

# Reply keys that name the sender: simulated node ids are drawn at random each run; a site id
# (from the site's data) is stable, but ordering by it would still order replies by sender.
SENDER_KEYS = frozenset({"node-id", "site-id"})


def reply_digest(message: Message) -> bytes:
    """A digest of a reply's content (or its error): an order for replies that no per-run id decides.

    Simulated node ids are drawn at random each run, so ordering by sender (or by
    content that names the sender, :data:`SENDER_KEYS`) would change the
    floating-point sum of an aggregation from run to run.
    """
    digest = hashlib.sha256()
    if not message.has_content():
        digest.update(repr((message.error.code, message.error.reason)).encode())
        return digest.digest()
    for name in sorted(message.content):
        record = message.content[name]
        digest.update(name.encode())
        for key in sorted(set(record) - SENDER_KEYS):
            value = record[key]
            digest.update(key.encode())
            digest.update(value.data if isinstance(value, Array) else repr(value).encode())
    return digest.digest()


def in_content_order(messages: Iterable[Message]) -> list[Message]:
    """``messages`` sorted by :func:`reply_digest`."""
    return sorted(messages, key=reply_digest)
