"""A real site's own text for the causal-LM task: ``train.jsonl`` (and optionally ``test.jsonl``) in its data-dir.

Each non-blank line of a file is one JSON object with a string ``"text"``: one document, which becomes
one token block and one DP record (the JSONL layout of Hugging Face datasets and most LLM fine-tuning
tools; a document may hold newlines, which a plain-text file could not separate). Without ``test.jsonl``
the site splits ``local-test-fraction`` of its train documents off as its local test text. A file larger
than the site's ``max-data-bytes`` is refused unread; a file that is not UTF-8, a line that is not a JSON
object with a string ``text``, or a train file without documents is refused with an error naming the file
(and line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TRAIN_FILE = "train.jsonl"
TEST_FILE = "test.jsonl"


@dataclass(frozen=True)
class SiteTexts:
    """A site's train documents and, when it has a ``test.jsonl``, its test documents."""

    train: tuple[str, ...]
    test: tuple[str, ...] | None


def read_jsonl_texts(path: Path, *, max_bytes: int) -> tuple[str, ...]:
    """The ``text`` of every non-blank line of ``path``.

    Raises
    ------
    ValueError
        If the file is larger than ``max_bytes`` (checked before reading), is not UTF-8, or a line is not
        a JSON object with a string ``text``; the message names the file and line.
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path} is {size} bytes, over this site's max-data-bytes={max_bytes}; refused unread")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = raw[: error.start].count(b"\n") + 1
        raise ValueError(f"{path} is not UTF-8 text: byte {error.start} (line {line_number}) is "
                         f"{raw[error.start:error.start + 1]!r}; save the file as UTF-8") from error
    texts = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} line {number} is not JSON: {error.msg}") from error
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(f'{path} line {number} must be a JSON object with a string "text"')
        texts.append(record["text"])
    return tuple(texts)


def read_site_texts(directory: Path, *, max_bytes: int) -> SiteTexts:
    """The documents of a site's ``data-dir``: ``train.jsonl`` (required, non-empty), ``test.jsonl`` if present.

    Raises
    ------
    FileNotFoundError
        If the folder or its ``train.jsonl`` is missing.
    ValueError
        For a file :func:`read_jsonl_texts` refuses, or a train file with no document.
    """
    train_path = directory / TRAIN_FILE
    if not train_path.is_file():
        raise FileNotFoundError(f"a causal-lm site's data-dir must hold {TRAIN_FILE} (one JSON object with a "
                                f'"text" per line); {train_path} is missing')
    train = read_jsonl_texts(train_path, max_bytes=max_bytes)
    if not train:
        raise ValueError(f"{train_path} holds no document")
    test_path = directory / TEST_FILE
    test = read_jsonl_texts(test_path, max_bytes=max_bytes) if test_path.is_file() else None
    return SiteTexts(train, test)
