"""``ftd eval --test-file`` reads the file with the caller's rights, never the daemon's (case 9)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.security.conftest import MakeSetup, good_jsonl
from tests.security.people import People, User

EVAL = "import sys; from ftd.cli import main; sys.exit(main())"


def _eval(user: User, socket: Path, test_file: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    done = user.run(
        EVAL,
        check=False,
        timeout=60,
        argv=(
            "eval",
            "gpt-4o-mini",
            "--test-file",
            str(test_file),
            "--socket",
            str(socket),
            "--timeout",
            "15",
        ),
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _owned(path: Path, data: bytes, user: User) -> Path:
    path.write_bytes(data)
    os.chown(path, user.uid, user.gid)
    path.chmod(0o600)
    return path


def test_case_9_a_caller_evaluates_only_what_it_may_read_and_nothing_blocks_the_daemon(
    secured: MakeSetup, people: People, spool: Path
) -> None:
    base = spool.parent
    socket = base / "ftd.sock"
    setup = secured(control={"group": people.admin_group, "socket": str(socket)})
    # The caller may use the socket (and queue evaluations) but not read Bob's files.
    alice, bob = people.admin, people.bob
    bobs = _owned(base / "bob-test.jsonl", good_jsonl(12, seed="BOB-SECRET "), bob)
    fifo = base / "pipe.jsonl"
    os.mkfifo(fifo)
    fifo.chmod(0o666)
    timings: dict[str, float] = {}
    for name, path, said in (
        ("bob's private file", bobs, "Permission denied"),
        ("a FIFO", fifo, "not a regular file"),
        ("/dev/zero", Path("/dev/zero"), "not a regular file"),
    ):
        code, output, seconds = _eval(alice, socket, path)
        assert code != 0, f"{name}: {output}"
        assert said in output, f"{name}: {output}"
        timings[name] = seconds
    assert setup.daemon.query("SELECT id FROM evaluations") == []
    own = _owned(base / "alice-test.jsonl", good_jsonl(12, seed="Tell me: "), alice)
    code, output, _ = _eval(alice, socket, own)
    assert code == 0, output
    rows = setup.daemon.query("SELECT test_file FROM evaluations")
    assert len(rows) == 1
    kept = Path(rows[0]["test_file"])
    assert kept.is_relative_to(setup.daemon.state_dir)  # the daemon's own copy
    assert kept.read_bytes() == own.read_bytes()
    print("case 9: refused in " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    setup.ended()
