"""The shipped drop-folder layout keeps producers out of each other's files (case 2)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.security.conftest import good_jsonl
from tests.security.people import People, User

READ_AND_APPEND = """
import sys
path = sys.argv[1]
for mode in ("rb", "ab"):
    try:
        open(path, mode).close()
    except PermissionError:
        print(mode, "refused")
    else:
        print(mode, "allowed")
"""


def _tries(user: User, path: Path) -> list[str]:
    done = subprocess.run([*user.command(READ_AND_APPEND), str(path)], **user.options(), check=True)
    return str(done.stdout).split("\n")[:-1]


def test_case_2_no_producer_reads_or_changes_another_producers_file(
    people: People, spool: Path, tmp_path: Path
) -> None:
    alice, bob, daemon = people.alice, people.bob, people.daemon
    incoming = spool / "incoming"
    dropped = incoming / "alice.jsonl"
    alice.run(
        f"open({str(incoming / '.alice.part')!r}, 'wb').write({good_jsonl(5)!r})\n"
        f"import os; os.rename({str(incoming / '.alice.part')!r}, {str(dropped)!r})",
        umask=0o002,  # the most open umask a group member may have
    )
    source = spool.parent / "mine.jsonl"
    source.write_bytes(good_jsonl(5, seed="submitted"))
    source.chmod(0o644)
    submit = alice.run(
        "import sys; from ftd.cli import main; sys.exit(main())",
        umask=0o077,
        argv=("submit", str(source), "--drop", str(spool), "--name", "submitted.jsonl"),
    )
    assert (incoming / "submitted.jsonl").exists(), submit.stdout + submit.stderr
    for name in ("alice.jsonl", "submitted.jsonl"):
        path = incoming / name
        assert _tries(bob, path) == ["rb refused", "ab refused"], name
        assert _tries(daemon, path) == ["rb allowed", "ab refused"], name
        assert _tries(alice, path) == ["rb allowed", "ab allowed"], name
        acl = subprocess.run(
            ["/usr/bin/getfacl", "-cp", str(path)], capture_output=True, text=True, check=True
        ).stdout
        entry = next(line for line in acl.splitlines() if line.startswith(f"user:{daemon.name}:"))
        assert entry.endswith(("r--", "#effective:r--")), entry
        assert "group::---" in acl
        assert "other::---" in acl
    assert good_jsonl(5) == dropped.read_bytes()  # nothing changed it
    # A folder of Alice's (for a sidecar's companions) is hers and ftd's alone, too.
    folder = incoming / "alice-parts"
    alice.run(
        f"import os; os.mkdir({str(folder)!r}); open({str(folder / 'v.jsonl')!r}, 'w').write('x')"
    )
    assert _tries(bob, folder / "v.jsonl") == ["rb refused", "ab refused"]
    assert _tries(daemon, folder / "v.jsonl") == ["rb allowed", "ab refused"]
