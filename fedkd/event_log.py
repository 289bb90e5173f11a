"""TensorBoard event files of a run, written from the same round records as ``results.json``.

Every number of a round record becomes a scalar at step ``round``, under a section
named for what it measures (``global/global_accuracy``, ``cost/bytes_sent``,
``privacy/epsilon_max``, ...); a record's per-site mappings (``epsilon_per_client``,
``client_accuracy_per_site``) become one scalar per site (``epsilon_per_client/<site id>``),
so each site is a curve. The file is flushed after every round, so
``tensorboard --logdir results/`` shows a run while it goes on.

The writer needs the ``tensorboard`` package (a dependency of fedkd); where it is
missing, :func:`open_event_log` logs one warning saying so and returns ``None``: the run goes on
without event files.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

# Record-key prefix -> TensorBoard section; the first match wins, the rest go under "other".
SECTIONS = (
    ("global_", "global"),
    ("client_", "clients"),
    ("clients_", "clients"),
    ("teacher_", "transfer"),
    ("agreement", "transfer"),
    ("retention", "transfer"),
    ("train_", "train"),
    ("kd_", "train"),
    ("bytes_", "cost"),
    ("round_seconds", "cost"),
    ("epsilon", "privacy"),
    ("user_", "privacy"),
)
logger = logging.getLogger(__name__)

EVENT_FOLDER = "tensorboard"
MISSING = ("TensorBoard event files are off: the package tensorboard is not installed "
           "(pip install tensorboard, or reinstall fedkd with its dependencies)")


def tag_of(key: str) -> str:
    """The scalar's tag: ``<section>/<key>``, the key as ``results.json`` names it."""
    section = next((name for prefix, name in SECTIONS if key.startswith(prefix)), "other")
    return f"{section}/{key}"


def _number(value: Any) -> float | None:
    """A finite or infinite float of a record value; ``None`` for anything else (text, ``None``, booleans)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if value in ("inf", "-inf"):  # results.json's spelling of an infinite epsilon
        return float(value)
    return None


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """Tag -> value of every number in one round record (per-site mappings one tag per site)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key == "round":
            continue
        if isinstance(value, Mapping):
            for site, inner in value.items():
                number = _number(inner)
                if number is not None and not math.isnan(number):
                    out[f"{key}/{site}"] = number
            continue
        number = _number(value)
        if number is not None and not math.isnan(number):
            out[tag_of(key)] = number
    return out


def _newest_file_second(directory: Path) -> int | None:
    """The whole second in the name of the newest event file in ``directory``, if any."""
    stamps = [int(part) for path in directory.glob("events.out.tfevents.*")
              if (part := path.name.split(".")[3]).isdigit()]
    return max(stamps, default=None)


def wait_to_sort_last(directory: Path) -> None:
    """Wait (under a second) until a new event file's name sorts after every file in ``directory``.

    TensorBoard reads a folder's event files in name order, and a name is
    ``events.out.tfevents.<whole seconds>.<host>.<pid>.<counter>``: within one second
    the rest sorts as text (a counter of 10 before 9), so a file opened in the same
    second as an earlier one could be read first, and the earlier file's rounds would
    win over the new file's. Only a run resumed within a second of its last file waits.
    """
    newest = _newest_file_second(directory)
    if newest is not None:
        wait = newest + 1 - time.time()
        if wait > 0:
            time.sleep(min(wait, 1.0))


class EventLog:
    """Appends round records to a TensorBoard event file in ``directory``.

    The file is opened at the first record and closed by :meth:`close`; a record
    after that opens a new file in the same folder (TensorBoard reads them as one run).
    A new file supersedes what earlier files hold from its first round on, so a run
    resumed from a checkpoint shows each round once.

    Parameters
    ----------
    directory : pathlib.Path
        The event files' folder: by convention ``<run folder>/tensorboard``.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self._writer: SummaryWriter | None = None

    def append(self, record: Mapping[str, Any]) -> None:
        """Write every number of ``record`` at step ``record["round"]``, then flush to disk."""
        step = int(record["round"])
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.directory.mkdir(parents=True, exist_ok=True)
            wait_to_sort_last(self.directory)
            # A resumed run starts again after its checkpoint: TensorBoard drops what an earlier file
            # holds from this step on (rounds recorded after the last checkpoint, before a crash).
            self._writer = SummaryWriter(log_dir=str(self.directory), purge_step=step)
        for tag, value in scalars(record).items():
            self._writer.add_scalar(tag, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file, if one is open."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def open_event_log(run_folder: Path) -> EventLog | None:
    """An :class:`EventLog` under ``run_folder/tensorboard``; ``None`` (one logged warning) without tensorboard."""
    if importlib.util.find_spec("tensorboard") is None:
        logger.warning(MISSING)
        return None
    return EventLog(run_folder / EVENT_FOLDER)
