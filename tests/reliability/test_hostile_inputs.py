"""One daemon, a drop folder full of hostile entries and two good datasets.

Each hostile entry (tests/reliability/corpus.py) must end as expected:
rejected with a report in ``rejected/`` that names the reason and the file
moved there unaltered, ignored with a log line that names the reason, or left
in ``incoming/``. Meanwhile the good datasets become jobs that succeed, the
daemon keeps running and answers ``ftd status``, and nothing in its log is a
crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.reliability import corpus, outcomes
from tests.reliability.corpus import IGNORED, LEFT, REJECTED


def _fingerprint(path: Path) -> str:
    """Content hash of a regular file; size only for the sparse giant (not worth reading)."""
    info = path.lstat()
    if info.st_size > corpus.MAX_FILE_BYTES:
        return f"size:{info.st_size}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_hostile_corpus_is_rejected_or_ignored_and_good_datasets_go_on(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, flavor: str
) -> None:
    emulator = start_emulator("--flavor", flavor)
    daemon = make_daemon(emulator, intake={"max_file_bytes": corpus.MAX_FILE_BYTES})
    daemon.start()
    entries = corpus.entries(as_root=os.geteuid() == 0)
    assert len(entries) >= 40
    started = time.time()
    remover = outcomes.remove_when_opened(daemon.pid, daemon.incoming / "vanishing.jsonl")
    growing = daemon.incoming / "growing.jsonl"
    with outcomes.Grower(growing):
        corpus.build(daemon.incoming, entries)
        before = {
            e.name: _fingerprint(daemon.incoming / e.name)
            for e in entries
            if e.expect == REJECTED and (daemon.incoming / e.name).is_file()
        }
        found = outcomes.wait_settled(daemon, entries, started)
        for name in corpus.GOOD_NAMES:
            daemon.wait_job(name, "succeeded", timeout=60)
        # Still growing, so still not taken.
        assert growing.exists()
        assert not daemon.query("SELECT id FROM datasets WHERE name = 'growing.jsonl'")
    remover.join(timeout=5)

    wrong = {
        e.name: (e.expect, e.reason, found[e.name])
        for e in entries
        if found[e.name].kind != e.expect or e.reason not in found[e.name].reason
    }
    assert not wrong, json.dumps({k: repr(v) for k, v in wrong.items()}, indent=1)

    rejected = daemon.drop / "rejected"
    for entry in entries:
        path = daemon.incoming / entry.name
        if entry.expect == REJECTED:
            # Moved, not altered, with the validator's report beside it.
            assert not os.path.lexists(path), entry.name
            moved = rejected / entry.name
            if entry.name in before:
                assert _fingerprint(moved) == before[entry.name], entry.name
            report = json.loads((rejected / (moved.stem + ".errors.json")).read_text())
            assert report["accepted"] is False
            assert report["path"] == entry.name
        elif entry.expect == IGNORED and entry.name != "vanishing.jsonl":
            assert os.path.lexists(path), f"{entry.name} was ignored, so left where it was"
        elif entry.expect == LEFT:
            assert os.path.lexists(path), entry.name
    assert not os.path.lexists(daemon.incoming / "vanishing.jsonl")
    # The link's target was never read, nor the link moved.
    assert (daemon.incoming / "shadow.jsonl").is_symlink()
    # Ftd's own work folders are all gone again.
    assert list((daemon.drop / "processing").iterdir()) == []

    # The good datasets went through untouched by the rest.
    for name in corpus.GOOD_NAMES:
        assert daemon.dataset(name)["state"] == "submitted"
        assert (daemon.drop / "processed" / name).is_file()

    # Once it stops growing, the growing file is taken like any other.
    daemon.wait_dataset("growing.jsonl", "submitted", timeout=30)

    status = daemon.ftd("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pid"] == daemon.pid
    crashes = [
        e
        for e in daemon.events()
        if e.get("event") in ("stage_error", "control_command_failed") or "exception" in e
    ]
    assert crashes == []
    assert daemon.stop() == 0
