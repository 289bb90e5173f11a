"""A real causal-LM site's own documents: train.jsonl / test.jsonl, one JSON object with a "text" per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedkd.llm.site_text import read_jsonl_texts, read_site_texts


def test_read_site_texts_documents_with_newlines_and_blank_lines_kept_in_order(tmp_path: Path) -> None:
    # Prepare: a document holding newlines and non-ASCII text, blank lines between records, no test file
    (tmp_path / "train.jsonl").write_text('{"text": "Caf\\u00e9 sales rose.\\nProfits fell."}\n\n'
                                          '{"text": "Second", "source": "wire"}\n', encoding="utf-8")

    # Execute
    texts = read_site_texts(tmp_path, max_bytes=10_000)

    # Assert
    assert texts.train == ("Café sales rose.\nProfits fell.", "Second") and texts.test is None


def test_read_site_texts_test_file_read_when_present(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    (tmp_path / "test.jsonl").write_text('{"text": "b"}\n{"text": "c"}\n', encoding="utf-8")
    assert read_site_texts(tmp_path, max_bytes=100).test == ("b", "c")


def test_read_jsonl_texts_file_at_limit_read_one_byte_over_refused(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a"}\n', encoding="utf-8")
    size = path.stat().st_size

    # Execute / Assert
    assert read_jsonl_texts(path, max_bytes=size) == ("a",)
    with pytest.raises(ValueError, match=f"{size} bytes, over this site's max-data-bytes={size - 1}"):
        read_jsonl_texts(path, max_bytes=size - 1)


def test_read_jsonl_texts_latin1_file_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "na\xefve"}\n')
    with pytest.raises(ValueError, match=r"test\.jsonl is not UTF-8 text: byte 27 \(line 2\)"):
        read_jsonl_texts(path, max_bytes=1000)
