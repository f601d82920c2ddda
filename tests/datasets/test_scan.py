"""Chunk planning: whole lines, exact numbering, over-long lines never held."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from ftd.datasets.scan import BLOCK_BYTES, Chunk, LongLine, Planner, head_lines

if TYPE_CHECKING:
    from pathlib import Path


def plan(
    path: Path, chunk: int, max_line: int = BLOCK_BYTES
) -> tuple[Planner, list[Chunk | LongLine]]:
    planner = Planner(str(path), chunk_bytes=chunk, max_line_bytes=max_line)
    return planner, list(planner)


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_chunks_cover_the_file_in_whole_numbered_lines(
    tmp_path: Path, chunk: int, trailing_newline: bool
) -> None:
    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 13)}"}}' for i in range(500)]
    body = "\n".join(lines) + ("\n" if trailing_newline else "")
    path = tmp_path / "f.jsonl"
    path.write_text(body)
    planner, items = plan(path, chunk)
    data = path.read_bytes()
    seen: list[str] = []
    position = 0
    for item in items:
        assert isinstance(item, Chunk)
        assert item.offset == position
        piece = data[item.offset : item.offset + item.length].decode()
        assert item.first_line == len(seen) + 1
        seen.extend(piece.splitlines())
        position += item.length
    assert position == len(data)
    assert seen == lines
    assert planner.lines == 500
    assert planner.size == len(data)
    assert planner.sha256 == hashlib.sha256(data).hexdigest()


def test_long_lines_are_cut_out_with_their_numbers(tmp_path: Path) -> None:
    long = b"y" * (BLOCK_BYTES * 3)
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"a\nb\n" + long + b"\nc\n" + long)
    planner, items = plan(path, 1 << 30)
    assert items == [
        Chunk(0, 4, 1),
        LongLine(3, 4, len(long) + 1),
        Chunk(4 + len(long) + 1, 2, 4),
        LongLine(5, 4 + len(long) + 3, len(long)),
    ]
    assert planner.lines == 5


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    planner, items = plan(path, 10)
    assert items == []
    assert planner.lines == 0


def test_head_lines_skips_over_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"one\n" + b"z" * 5000 + b"\nthree\n")
    got = list(head_lines(str(path), max_lines=10, max_line_bytes=100))
    assert got == [(1, b"one\n"), (3, b"three\n")]
