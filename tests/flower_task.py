"""Run test code as if inside a Flower task: ``Message()`` reads its run and node ids from there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flwr.supercore.task_identity import TaskIdentity


@contextmanager
def inside_task(run_id: int = 1) -> Iterator[None]:
    """Give this process Flower's process-wide TaskIdentity (a SuperNode sets it before it runs an app),
    and put back whatever was there."""
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, 1, 1
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved
