"""Links a producer puts in the drop folder never lead ftd's writes or moves (cases 1 and 8)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.security.conftest import MakeSetup, Setup, good_jsonl, wait_until
from tests.security.people import FLAP

DECIDED = ("rejected", "awaiting_approval", "ready", "duplicate", "missing", "failed")


def _no_link_to_the_database(setup: Setup, *, skip: tuple[str, ...] = ()) -> None:
    """The daemon's database has no second name anywhere in the drop folder."""
    database = setup.database.stat()
    for folder, _dirs, names in os.walk(setup.spool):
        if Path(folder).relative_to(setup.spool).parts[:1] in [(part,) for part in skip]:
            continue  # what a producer is swapping right now
        for name in names:
            try:
                info = os.lstat(Path(folder) / name)
            except FileNotFoundError:
                continue
            assert (info.st_dev, info.st_ino) != (database.st_dev, database.st_ino), (
                f"the database is reachable as {Path(folder) / name}"
            )


def test_case_1_a_link_named_like_a_report_temporary_is_never_written_through(
    secured: MakeSetup,
) -> None:
    """A companion that is a link named ``.z.errors.json.tmp`` lands in rejected/; the
    report of an invalid ``z.jsonl`` is then written there without following it."""
    setup = secured()
    alice = setup.people.alice
    link = setup.incoming / ".z.errors.json.tmp"
    alice.run(f"import os; os.symlink({str(setup.database)!r}, {str(link)!r})")
    setup.drop(alice, "y.toml", b'validation_file = ".z.errors.json.tmp"\n')
    setup.drop(alice, "y.jsonl", good_jsonl(30))
    setup.settled("y.jsonl", "rejected")
    assert (setup.spool / "rejected" / ".z.errors.json.tmp").is_symlink()
    setup.drop(alice, "z.jsonl", b"this is not JSON\n")
    setup.settled("z.jsonl", "rejected")
    report = json.loads((setup.spool / "rejected" / "z.errors.json").read_text())
    assert report["accepted"] is False
    assert (setup.spool / "rejected" / ".z.errors.json.tmp").is_symlink()
    _no_link_to_the_database(setup)
    setup.ended()


TRIES_CASE_8 = 20


def test_case_8_a_folder_swapped_for_a_link_never_moves_the_database(
    secured: MakeSetup,
) -> None:
    """A sidecar names ``sub/ftd.db`` while the producer swaps the folder ``sub`` with a
    link to ftd's state directory, as fast as it can, across many drops."""
    setup = secured(defaults={"auto_approve": False})
    alice = setup.people.alice
    incoming = setup.incoming
    alice.run(
        "import os\n"
        f"os.mkdir({str(incoming / 'sub')!r})\n"
        f"open({str(incoming / 'sub' / 'ftd.db')!r}, 'wb').write({good_jsonl(20, seed='v')!r})\n"
        f"os.symlink({str(setup.daemon.state_dir)!r}, {str(incoming / 'subl')!r})\n"
    )
    stop = incoming.parent.parent / "stop-flapping"
    flapper = alice.start(FLAP, str(incoming / "sub"), str(incoming / "subl"), "600", str(stop))
    held: list[float] = []
    try:
        for number in range(TRIES_CASE_8):
            name = f"d{number}"
            setup.drop(alice, f"{name}.toml", b'validation_file = "sub/ftd.db"\n')
            setup.drop(alice, f"{name}.jsonl", good_jsonl(30, seed=name))
            started = time.monotonic()

            def decided(name: str = name) -> bool:
                rows = setup.daemon.query(
                    "SELECT state FROM datasets WHERE name = ?", (f"{name}.jsonl",)
                )
                return bool(rows) and rows[0]["state"] in DECIDED

            wait_until(f"{name}.jsonl decided", decided, timeout=60)
            held.append(time.monotonic() - started)
            assert setup.database.exists(), f"the database was moved away at try {number + 1}"
            assert setup.database.stat().st_ino == setup.database_inode
            _no_link_to_the_database(setup, skip=("incoming",))
    finally:
        stop.touch()
        flapper.wait(30)
    _no_link_to_the_database(setup)
    print(f"case 8: {TRIES_CASE_8} tries, each decided in {min(held):.2f}-{max(held):.2f} s")
    setup.ended()
