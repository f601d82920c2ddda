"""Moves that never overwrite, and recorded moves finished after a crash at any point."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftd.daemon import snapshot
from ftd.daemon.files import (
    MoveError,
    free_name,
    move_file,
    settle_move,
    settle_moves,
    write_json,
)
from ftd.daemon.prepare import _first_unfit
from ftd.store import FileRow, Store


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


@pytest.mark.anyio
async def test_a_companion_behind_a_link_is_refused_not_left_pending(
    store: Store, tmp_path: Path
) -> None:
    """Between the claim and the move, the producer swaps the companion's folder for a link
    to another folder: the move is refused for good, the link and what it points at are left
    untouched, and the dataset's rejection says why."""
    drop = tmp_path / "drop"
    incoming, work = drop / "incoming", drop / "processing" / "t1"
    (incoming / "sub").mkdir(parents=True)
    elsewhere = tmp_path / "private"
    elsewhere.mkdir()
    dataset, sidecar = incoming / "a.jsonl", incoming / "a.toml"
    dataset.write_text("{}\n")
    sidecar.write_text('test_file = "sub/t.jsonl"\n')
    companion = incoming / "sub" / "t.jsonl"
    companion.write_text("{}\n")
    taken_as = {
        role: f"{path.stat().st_dev}:{path.stat().st_ino}"
        for role, path in (("dataset", dataset), ("sidecar", sidecar), ("test", companion))
    }
    row = await store.add_dataset(
        sha256="ab" * 32,
        name="a.jsonl",
        path=str(dataset),
        size_bytes=3,
        moves={
            "dataset": (str(dataset), str(work / "a.jsonl")),
            "sidecar": (str(sidecar), str(work / "a.toml")),
            "test": (str(companion), str(work / "sub" / "t.jsonl")),
        },
        identities=taken_as,
    )
    # the swap: sub/ goes, a link to a folder of someone else's takes its place
    os.rename(companion, elsewhere / "t.jsonl")
    (incoming / "sub").rmdir()
    os.symlink(elsewhere, incoming / "sub")

    missing = await settle_moves(store, row.id, root=drop)
    assert missing == []
    assert await store.pending_moves() == []  # nothing left to retry for ever
    files = await store.files(row.id)
    assert files["dataset"].refused is None
    assert Path(files["dataset"].path) == work / "a.jsonl"
    refused = files["test"].refused
    assert refused is not None
    assert "passes through a symbolic link" in refused
    assert files["test"].path == str(companion)  # where it was: never moved
    assert (incoming / "sub").is_symlink()
    assert (elsewhere / "t.jsonl").read_text() == "{}\n"  # nothing followed, nothing moved
    assert not (work / "sub").exists()
    taken = snapshot.Taken(sha256="ab" * 32, owner_uid=os.getuid())
    taken.copies.update(dataset="/copy/a", sidecar="/copy/s", test="/copy/t")
    kind, message = _first_unfit(taken, files)  # type: ignore[misc]
    assert kind == "bad_test_file"
    assert message == refused
