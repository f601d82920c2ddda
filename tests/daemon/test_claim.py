"""Claiming a file: what travels with a dataset, and a file removed while it is being read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from ftd.config.paths import DropFolder
from ftd.daemon import snapshot
from ftd.daemon.claim import Intake, plan_moves
from ftd.intake import Seen
from ftd.store import Store

pytestmark = pytest.mark.anyio


def test_a_sidecar_that_is_not_a_regular_file_still_travels_with_its_dataset(
    tmp_path: Path,
) -> None:
    incoming, work = tmp_path / "incoming", tmp_path / "work"
    incoming.mkdir()
    (incoming / "a.jsonl").write_text("{}\n")
    os.mkfifo(incoming / "a.toml")
    (incoming / "b.jsonl").write_text("{}\n")
    (incoming / "b.toml").symlink_to("/etc/shadow")
    # Moved, so that preparing the dataset rejects it by name instead of skipping it.
    assert plan_moves(incoming, "a.jsonl", work)["sidecar"] == (
        str(incoming / "a.toml"),
        str(work / "a.toml"),
    )
    assert plan_moves(incoming, "b.jsonl", work)["sidecar"][0] == str(incoming / "b.toml")
    assert set(plan_moves(incoming, "c.jsonl", work)) == {"dataset"}


def test_companions_travel_whatever_they_are_but_never_from_outside(tmp_path: Path) -> None:
    incoming, work = tmp_path / "incoming", tmp_path / "work"
    incoming.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (incoming / "d.jsonl").write_text("{}\n")
    (incoming / "d.toml").write_text('validation_file = "v.jsonl"\ntest_file = "sub/t.jsonl"\n')
    (incoming / "v.jsonl").symlink_to("/etc/shadow")
    (incoming / "sub").symlink_to(outside)  # a folder link that leads out of incoming/
    (outside / "t.jsonl").write_text("{}\n")
    moves = plan_moves(incoming, "d.jsonl", work)
    assert moves["validation"] == (str(incoming / "v.jsonl"), str(work / "v.jsonl"))
    assert "test" not in moves


def _dropped(tmp_path: Path, name: str) -> tuple[DropFolder, Seen]:
    """A drop folder with one complete file in ``incoming/``, as the watcher saw it."""
    drop = DropFolder(tmp_path / "drop")
    drop.create()
    source = drop.incoming / name
    source.write_text("{}\n")
    info = source.stat()
    return drop, Seen(name, info.st_size, info.st_mtime_ns, info.st_ino)


async def test_a_file_removed_before_it_is_opened_is_logged_and_not_recorded(
    tmp_path: Path,
) -> None:
    drop, seen = _dropped(tmp_path, "gone.jsonl")
    (drop.incoming / "gone.jsonl").unlink()  # the producer takes it back before ftd opens it
    claimed: list[bool] = []
    store = await Store.open(tmp_path / "ftd.db")
    try:
        intake = Intake(
            store, drop, max_file_bytes=1 << 20, on_claimed=lambda: claimed.append(True)
        )
        with structlog.testing.capture_logs() as logged:
            await intake.take(seen)
        assert await store.read("SELECT id FROM datasets") == []
    finally:
        await store.close()
    assert claimed == []
    assert [e for e in logged if e["event"] == "incoming_vanished"] == [
        {
            "logger_name": "ftd.daemon.claim",
            "event": "incoming_vanished",
            "file": "gone.jsonl",
            "reason": "removed before ftd took it",
            "log_level": "info",
        }
    ]


async def test_a_claim_failing_the_same_way_again_is_one_error_then_a_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk for hours must not write an error at every look at incoming/."""
    drop, seen = _dropped(tmp_path, "held.jsonl")
    real_copy = snapshot._copy
    failures = iter(
        [OSError(28, "No space left on device")] * 3 + [OSError(30, "Read-only file system")]
    )

    def copy_or_fail(fd: int, info: os.stat_result, target: Path) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_copy(fd, info, target)

    monkeypatch.setattr(snapshot, "_copy", copy_or_fail)
    claimed: list[bool] = []
    store = await Store.open(tmp_path / "ftd.db")
    try:
        intake = Intake(
            store, drop, max_file_bytes=1 << 20, on_claimed=lambda: claimed.append(True)
        )
        with structlog.testing.capture_logs() as logged:
            for _ in range(5):  # five looks: four failures, then it goes through
                await intake.take(seen)
        assert len(await store.read("SELECT id FROM datasets")) == 1
    finally:
        await store.close()
    assert claimed == [True]
    said = [
        (e["event"], e["log_level"], e.get("failures"))
        for e in logged
        if e["event"].startswith("incoming_claim")
    ]
    assert said == [
        ("incoming_claim_failed", "error", 1),
        ("incoming_claim_failed", "debug", 2),
        ("incoming_claim_failed", "debug", 3),
        ("incoming_claim_failed", "error", 4),  # a new reason is said again
        ("incoming_claim_recovered", "info", 4),
    ]
