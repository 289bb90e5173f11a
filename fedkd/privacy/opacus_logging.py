"""Undo what importing Opacus does to the host's logging.

``opacus.utils.module_utils`` calls ``logging.basicConfig()`` when any Opacus module is
first imported. The root handler it adds prints every propagating log line a second
time: Flower's logger propagates, so each ``[fedkd] round`` line of the ServerApp and
each site's progress line would appear twice. Opacus is imported lazily (only where
DP-SGD or its accountants run), so every such import calls
:func:`drop_opacus_root_handler` right after.
"""

from __future__ import annotations

import logging

OPACUS_FORMAT = "%(asctime)s:%(levelname)s:%(message)s"


def drop_opacus_root_handler() -> None:
    """Remove the root handlers with Opacus' ``basicConfig`` format; others stay."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler.formatter, "_fmt", None) == OPACUS_FORMAT:
            root.removeHandler(handler)
