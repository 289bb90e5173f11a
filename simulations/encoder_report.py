"""Summarise text-encoder runs for docs/llm-encoder.md: global accuracy per round and each site's teacher.

Reads each run's ``results.json`` (the global student's held-out accuracy every round), and scores every
site's cached teacher of the first run, on its own local test split and on the server's held-out
articles (every topic), through the same code the sites run (:func:`clients.encoder_round.load_encoder_site`,
which loads the teachers from the cache, or fine-tunes them if absent). Writes one JSON file.

Run: ``python -m simulations.encoder_report --num-supernodes 5 --output docs/llm-encoder.json
results/encoder-run1 results/encoder-ce-only``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from clients.encoder_round import base_encoder, encoder_student, load_encoder_site
from fedkd.config import FedKDConfig
from fedkd.data.bbc_news import CATEGORIES
from fedkd.encoder.model import shared_state
from fedkd.encoder.text import bbc_test_articles, encode_texts
from fedkd.encoder.training import predict_logits, score
from fedkd.io import write_atomic
from fedkd.node_config import NodeConfig

LOCAL_KEYS = ("output-dir", "experiment", "run-name", "cache-dir", "data-dir")
"""Keys naming this machine's folders, left out of the summary."""


def run_summary(folder: Path) -> dict[str, Any]:
    """The run's settings that differ from the defaults (but folders) and its per-round global accuracy and loss."""
    results = json.loads((folder / "results.json").read_text())
    rounds = [{"round": r["round"], "global_accuracy": r["global_accuracy"], "global_loss": r["global_loss"],
               "teacher_accuracy_mean": r.get("teacher_accuracy_mean"), "agreement_mean": r.get("agreement_mean"),
               "bytes_sent": r.get("bytes_sent"), "bytes_received": r.get("bytes_received"),
               "round_seconds": r.get("round_seconds")} for r in results["rounds"]]
    defaults = FedKDConfig().to_dict()
    changed = {key: value for key, value in results["config"].items()
               if key not in LOCAL_KEYS and defaults.get(key) != value}
    return {"folder": folder.name, "config": changed, "rounds": rounds}


def site_teachers(config: FedKDConfig, num_supernodes: int) -> list[dict[str, Any]]:
    """Each simulated site's train size, topics held and its teacher's accuracy (local test, held-out)."""
    _, tokenizer = base_encoder()
    texts, labels = bbc_test_articles(config.encoder_test_articles)
    held_out = encode_texts(tokenizer, texts, list(labels), max_tokens=config.encoder_max_tokens)
    rows = []
    for partition in range(num_supernodes):
        site = load_encoder_site(config, NodeConfig(partition_id=partition, num_partitions=num_supernodes))
        counts = [int((site.train.labels == label).sum()) for label in range(len(CATEGORIES))]
        rows.append({"site": partition, "train_articles": len(site.train), "test_articles": len(site.test),
                     "train_per_topic": dict(zip(CATEGORIES, counts, strict=True)),
                     "teacher_local_test_accuracy": site.teacher_accuracy,
                     "teacher_held_out_accuracy": score(predict_logits(site.teacher, held_out),
                                                        held_out.labels).accuracy,
                     "teacher_from_cache": site.teacher_cached})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="results folders of text-encoder runs")
    parser.add_argument("--num-supernodes", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("docs/llm-encoder.json"))
    args = parser.parse_args(argv)
    runs = [run_summary(folder) for folder in args.runs]
    config = FedKDConfig.from_mapping(runs[0]["config"])
    state = shared_state(encoder_student(config, base_encoder()[0]))
    report = {"runs": runs, "site_teachers": site_teachers(config, args.num_supernodes),
              "student_shared_tensors": len(state),
              "student_shared_values": sum(t.numel() for t in state.values()),
              "held_out_articles": len(bbc_test_articles(config.encoder_test_articles)[1])}
    write_atomic(args.output, (json.dumps(report, indent=1) + "\n").encode())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
