"""Benchmark: one sweep of Flower 1.41's simulation message delivery, against the site count.

Flower's in-memory simulation engine hands messages to the simulated clients from a thread
(``flwr.server.superlink.fleet.vce.vce_api.add_messages_to_queue``) that, every 0.1 s, asks
the link state for the next message of *every* registered node in turn, and the in-memory
link state answers each such question by scanning (and expiry-checking) every message not yet
answered. One sweep therefore costs (registered nodes) x (messages in flight), which at a fixed
sampled fraction grows with the square of the site count; it runs in the simulation process,
beside the ServerApp, while a round's messages are in flight.

This script builds that state as Flower's simulation does (``LinkStateFactory`` in memory,
nodes registered by ``vce_api._register_nodes``, the round's messages pushed through
``InMemoryGrid``) for each site count, with ``fraction`` of the sites sampled, delivers the
messages, and then times ``--repeats`` sweeps: the messages stay in the state until their replies
are pulled, so every sweep while a round's replies are awaited costs about this much. Recorded:
the median sweep in CPU seconds of this process (what it takes from the machine's cores, steadier
on a shared machine than its wall seconds, also recorded). Beyond 2,000 nodes a sweep is timed
over 2,000 of them and scaled up (``sweep_extrapolated``). It starts no Ray and no clients.
Saves ``bench/results/delivery_sweep.json``.

Run: ``python bench/delivery_sweep.py [--sites 10 100 1000 10000] [--fraction 0.1]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import save_figures  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "delivery_sweep.json"


def sweep_seconds(num_supernodes: int, fraction: float, *, repeats: int = 3, max_swept: int = 2000) -> dict[str, Any]:
    """Seconds of one delivery sweep over ``num_supernodes`` nodes with ``fraction`` of them sent a message.

    Past ``max_swept`` nodes, the later sweeps visit only the first ``max_swept`` nodes and their time is
    scaled by ``num_supernodes / max_swept`` (``sweep_extrapolated``): every node's question costs the same
    scan of the messages in flight, whether or not one of them is for that node.
    """
    import flwr
    from flwr.app import RecordDict
    from flwr.common import Message
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.proto.task_pb2 import Task
    from flwr.server.superlink.fleet.vce.vce_api import _register_nodes
    from flwr.server.superlink.linkstate import LinkStateFactory
    from flwr.server.superlink.linkstate.in_memory_linkstate import RunRecord
    from flwr.supercore.constant import FLWR_IN_MEMORY_DB_NAME, NOOP_FEDERATION_ID
    from flwr.supercore.object_store import ObjectStoreFactory
    from flwr.supercore.run import Run
    from flwr.supercore.task_identity import TaskIdentity
    from flwr.superlink.federation import NoOpFederationManager
    from flwr.superlink.grid import InMemoryGrid

    factory = LinkStateFactory(FLWR_IN_MEMORY_DB_NAME, NoOpFederationManager(), ObjectStoreFactory())
    state = factory.state()
    # As flwr.simulation.run_simulation sets up a run and its grid.
    run = Run.create_empty(run_id=1)
    run.primary_task_id, run.federation_id = 1, NOOP_FEDERATION_ID
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, run.run_id, SUPERLINK_NODE_ID
    state.run_ids[run.run_id] = RunRecord(run=run)
    state.task_store[1] = Task(task_id=1, run_id=run.run_id)
    nodes = _register_nodes(num_supernodes, factory)
    grid = InMemoryGrid(state_factory=factory)
    grid.set_run(run)
    sampled = max(1, int(num_supernodes * fraction))
    grid.push_messages([Message(RecordDict(), dst_node_id=node_id, message_type="train")
                        for node_id in list(nodes)[:sampled]])
    # The first sweep delivers every message (each node's question marks its message delivered).
    ordered = list(nodes)
    start = time.perf_counter()
    delivered = sum(len(state.get_message_ins(node_id=node_id, limit=1)) for node_id in ordered[:sampled])
    first = time.perf_counter() - start
    if delivered != sampled:
        raise RuntimeError(f"the first sweep delivered {delivered} of {sampled} messages")
    swept = ordered[:max_swept]
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for node_id in swept:
            state.get_message_ins(node_id=node_id, limit=1)
        seconds.append((time.perf_counter() - start) * len(ordered) / len(swept))
        cpu_seconds.append((time.process_time() - cpu_start) * len(ordered) / len(swept))
    return {"num_supernodes": num_supernodes, "messages_in_flight": sampled, "flwr": flwr.__version__,
            "delivering_seconds": first, "sweep_seconds_median": statistics.median(seconds),
            "sweep_cpu_seconds_median": statistics.median(cpu_seconds),
            "nodes_swept": len(swept), "sweep_extrapolated": len(swept) < len(ordered)}


def main(argv: list[str] | None = None) -> int:
    """Time the sweep at each site count; print and save the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = []
    for count in args.sites:
        load = os.getloadavg()[0]
        row = {**sweep_seconds(count, args.fraction, repeats=args.repeats), "fraction": args.fraction,
               "load_average_1min": load, "niceness": os.nice(0)}
        rows.append(row)
        print(f"{count} sites, {row['messages_in_flight']} messages in flight: one sweep "
              f"{row['sweep_cpu_seconds_median']:.4f} CPU s ({row['sweep_seconds_median']:.4f} s wall)", flush=True)
    save_figures(args.out, {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
