"""A crash between ftd's copy of a dropped file and the row that names it leaves no copy
behind: the next start removes it, and the file is taken again as new."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ftd.daemon import snapshot
from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import write_dataset
from tests.security.conftest import STOP_SECONDS, wait_until


def test_a_copy_taken_just_before_a_crash_is_removed_at_the_next_start(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon(start_emulator())
    daemon.start()
    snapshots = daemon.state_dir / "snapshots"
    holder = sqlite3.connect(daemon.state_dir / "ftd.db", isolation_level=None, timeout=30)
    try:
        # Another writer holds the database (readers go on): the claim copies the file,
        # then waits to write its row; the kill comes in that wait, copy made, row not.
        holder.execute("BEGIN IMMEDIATE")
        write_dataset(daemon.incoming / "faq.jsonl", 40)
        wait_until("the copy of faq.jsonl", lambda: any(snapshots.glob("*/taken.json")))
        copies = [p.parent for p in snapshots.glob("*/taken.json")]
        daemon.kill()
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    (left,) = copies
    assert left.is_dir()
    assert not daemon.query("SELECT 1 FROM datasets")  # the row never came

    daemon.start()
    removed = daemon.wait_for("snapshot_removed", timeout=60)
    assert removed["tag"] == left.name
    assert "no dataset holds it" in removed["reason"]
    assert not left.exists()

    def validated() -> bool:
        rows = daemon.query("SELECT state FROM datasets WHERE name = 'faq.jsonl'")
        return bool(rows) and rows[0]["state"] not in ("detected", "validating")

    wait_until("faq.jsonl validated", validated)
    (row,) = daemon.query("SELECT * FROM datasets")  # taken again, once, as a new claim
    assert row["tag"] != left.name
    # its own copy goes once it is validated: nothing is left in snapshots/
    wait_until("no copy left", lambda: not any(snapshots.iterdir()), timeout=30)
    assert daemon.stop(timeout=STOP_SECONDS) == 0


def test_only_copies_still_to_be_read_are_kept(tmp_path: Path) -> None:
    for tag in ("orphan", "waiting", "checking", "trained"):
        (tmp_path / tag).mkdir()
    (tmp_path / "stray-file").write_text("not a copy folder")
    tags = {"waiting": "detected", "checking": "validating", "trained": "succeeded"}
    unread = snapshot.leftovers(tmp_path, tags)
    assert set(unread) == {"orphan", "trained"}
    assert "past validation" in unread["trained"]
    assert snapshot.leftovers(tmp_path / "none", tags) == {}
