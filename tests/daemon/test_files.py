"""Moves that never overwrite, and recorded moves finished after a crash at any point."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftd.daemon.files import MoveError, free_name, move_file, settle_move, write_json
from ftd.store import FileRow


def test_move_refuses_to_replace_a_file(tmp_path: Path) -> None:
    source, target = tmp_path / "a.jsonl", tmp_path / "out" / "a.jsonl"
    source.write_text("mine")
    target.parent.mkdir()
    target.write_text("someone else's")
    with pytest.raises(MoveError, match="target exists"):
        move_file(source, target)
    assert source.read_text() == "mine"
    assert target.read_text() == "someone else's"


def test_move_keeps_the_inode_and_the_bytes(tmp_path: Path) -> None:
    source, target = tmp_path / "a.jsonl", tmp_path / "deep" / "er" / "a.jsonl"
    source.write_bytes(b"\xef\xbb\xbfdata\r\n")
    inode = source.stat().st_ino
    move_file(source, target)
    assert not source.exists()
    assert target.read_bytes() == b"\xef\xbb\xbfdata\r\n"
    assert target.stat().st_ino == inode


def test_free_name_counts_up_and_keeps_the_extension(tmp_path: Path) -> None:
    assert free_name(tmp_path, "faq.jsonl") == tmp_path / "faq.jsonl"
    (tmp_path / "faq.jsonl").touch()
    (tmp_path / "faq-2.jsonl").touch()
    assert free_name(tmp_path, "faq.jsonl") == tmp_path / "faq-3.jsonl"
    assert free_name(tmp_path, "faq.jsonl", {"faq-3.jsonl"}) == tmp_path / "faq-4.jsonl"
    assert free_name(tmp_path, "README") == tmp_path / "README"


def _row(source: Path, target: Path) -> FileRow:
    return FileRow(dataset_id=1, role="dataset", path=str(target), moving_from=str(source))


def test_settle_a_move_that_never_started(tmp_path: Path) -> None:
    source, target = tmp_path / "in" / "a.jsonl", tmp_path / "work" / "a.jsonl"
    source.parent.mkdir()
    source.write_text("x")
    assert settle_move(_row(source, target)) == "moved"
    assert target.read_text() == "x"
    assert not source.exists()


def test_settle_a_move_cut_between_link_and_unlink(tmp_path: Path) -> None:
    source, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    source.write_text("x")
    os.link(source, target)
    assert settle_move(_row(source, target)) == "done"
    assert not source.exists()
    assert target.read_text() == "x"


def test_settle_a_finished_move_and_a_vanished_file(tmp_path: Path) -> None:
    source, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    target.write_text("x")
    assert settle_move(_row(source, target)) == "done"
    target.unlink()
    assert settle_move(_row(source, target)) == "missing"


def test_settle_never_unlinks_a_different_file_at_the_source(tmp_path: Path) -> None:
    """A new file dropped under the old name after the move is the user's next dataset."""
    source, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    target.write_text("moved")
    source.write_text("new drop")
    assert settle_move(_row(source, target)) == "done"
    assert source.read_text() == "new drop"


def test_write_json_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "r.errors.json"
    write_json(path, {"a": 1})
    write_json(path, {"b": "é"})
    assert path.read_text(encoding="utf-8") == '{\n  "b": "é"\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.errors.json"]
