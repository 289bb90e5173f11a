"""A real site's progress, in a few readable lines on its SuperNode's console.

In a deployment, Flower starts a fresh ClientApp process for every message, and the
SuperNode's console shows what those processes log. A site operator sees, per
message, what the site is doing and how long it took::

    [fedkd site] round 2 train: loading the site's data and teacher
    [fedkd site 1f3a9c02] round 2 train: teacher cnn1d (trained here), 61.2% on the local test
        split (80), ready in 0.4 s
    [fedkd site 1f3a9c02] round 2 train: distilled 320 samples in 1.1 s, loss 0.532, epsilon 2.41
        for this site's data (delta 1e-05)
    [fedkd site 1f3a9c02] round 2 evaluate: global student 54.0% on the local test split (80) in 0.6 s

(each one line on the console). The id is the site's stable ``site-id``, from a
fingerprint of its data, so it is the same across restarts.

A teacher trained at first use shows as a long "ready in" after the "loading" line.
Simulated sites stay silent: a simulation may run thousands of them, and the
harness prints its own per-round lines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from logging import INFO

from flwr.common.logger import log

from clients.privacy import SITE_ID_BITS
from fedkd.node_config import NodeConfig


class SiteProgress:
    """Writes one site's progress lines for one message; silent for a simulated site.

    Parameters
    ----------
    node : NodeConfig
        The site's node config (a simulated node logs nothing).
    server_round : int
        The round the message belongs to.
    task : str
        ``"train"`` or ``"evaluate"``.
    """

    def __init__(self, node: NodeConfig, server_round: int, task: str) -> None:
        self.enabled = not node.simulated
        self.prefix = f"round {server_round} {task}:"
        self.site = ""

    def name_site(self, site_id: int) -> None:
        """Name the site by its stable id (from its data), once known."""
        self.site = " " + site_label(site_id)

    def say(self, text: str, *args: object) -> None:
        """Log ``text % args`` under the site's prefix."""
        if self.enabled:
            log(INFO, f"[fedkd site{self.site}] {self.prefix} {text}", *args)

    @contextmanager
    def timed(self) -> Iterator[dict[str, float]]:
        """Measure a block; the yielded mapping's ``seconds`` is set when it ends."""
        elapsed = {"seconds": 0.0}
        start = time.perf_counter()
        try:
            yield elapsed
        finally:
            elapsed["seconds"] = time.perf_counter() - start


def site_label(site_id: int) -> str:
    """The first 8 hexadecimal digits of a site's stable id: enough to tell a federation's sites apart."""
    return f"{site_id:0{SITE_ID_BITS // 4}x}"[:8]


def train_summary(metrics: Mapping[str, object], seconds: float, delta: float) -> str:
    """The train line's text: samples, time, loss and, under local DP, the epsilon spent on the site's data."""
    loss = metrics.get("train-loss", float("nan"))
    text = f"distilled {metrics.get('num-examples', 0)} samples in {seconds:.1f} s, loss {_number(loss):.3f}"
    if "epsilon" in metrics:
        text += f", epsilon {_number(metrics['epsilon']):.3g} for this site's data (delta {delta:g})"
    return text


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def teacher_summary(architecture: str, source: str, accuracy: float, test_examples: int, seconds: float) -> str:
    """The teacher line's text: what it is, where it came from, how good, how long it took to be ready."""
    quality = (f"{accuracy:.1%} on the local test split ({test_examples})" if test_examples
               else "no local test split to score it")
    where = {"trained": "trained here", "checkpoint": "from the site's checkpoint",
             "fine-tuned": "the site's checkpoint, fine-tuned here"}.get(source, source)
    return f"teacher {architecture} ({where}), {quality}, ready in {seconds:.1f} s"
