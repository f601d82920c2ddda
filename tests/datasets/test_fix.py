"""Copying the valid lines of a rejected file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ftd.datasets.fix import Kept, write_valid_lines
from ftd.datasets.validate import Options, validate_listing_rejected

if TYPE_CHECKING:
    from pathlib import Path


def test_rejected_blank_and_over_long_lines_are_dropped(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\xef\xbb\xbfone\n\ntwo\r\n" + b"x" * 5000 + b"\nthree\n  four  \nfive")
    target = tmp_path / "out.jsonl"
    kept = write_valid_lines(str(source), str(target), [3, 4, 5], max_line_bytes=1000)
    assert kept == Kept(kept=3, rejected=3, blank=1)
    assert target.read_bytes() == b"one\nfour\nfive\n"


def test_an_existing_target_is_left_alone(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"one\n")
    with pytest.raises(FileExistsError):
        write_valid_lines(str(source), str(source), [], max_line_bytes=1000)
    assert source.read_bytes() == b"one\n"


def test_rejected_lines_are_listed_in_order_across_workers(tmp_path: Path) -> None:
    from tests.datasets.test_validate import DATA

    path = tmp_path / "big.jsonl"
    path.write_bytes((DATA / "supervised_defects.jsonl").read_bytes() * 30)
    one, rejected_one = validate_listing_rejected(path, Options(workers=1, chunk_bytes=4096))
    two, rejected_two = validate_listing_rejected(path, Options(workers=2, chunk_bytes=4096))
    assert list(rejected_one) == list(rejected_two)
    assert len(rejected_one) == one.invalid_examples == two.invalid_examples == 39 * 30
    assert list(rejected_one) == sorted(rejected_one)
    assert rejected_one[0] == 2
