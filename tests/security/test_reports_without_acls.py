"""Reports on a drop folder without POSIX ACLs: still readable by their producer and ftd
alone; and where ftd can neither set an ACL nor hand the file over, status says so."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.daemon import nofollow, readers
from ftd.daemon.files import write_json
from tests.daemon.harness import Daemon, Emulator, run_ftd
from tests.security.conftest import STOP_SECONDS
from tests.security.people import People, open_base, tmpfiles_for


@pytest.fixture
def bare_spool(people: People) -> Iterator[Path]:
    """The shipped layout on ramfs, which has no ACLs: the folders without their ACL lines."""
    base = open_base()
    folder = base / "spool"
    folder.mkdir()
    mounted = subprocess.run(
        ["/usr/bin/mount", "-t", "ramfs", "-o", "mode=755", "ramfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"cannot mount a ramfs here: {mounted.stderr.strip()!r}")
    layout = "".join(
        line + "\n"
        for line in tmpfiles_for(folder, people).splitlines()
        if not line.startswith("a")
    )
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(layout)
    try:
        tool = shutil.which("systemd-tmpfiles") or "systemd-tmpfiles"
        subprocess.run([tool, "--create", conf.name], check=True, capture_output=True)
    finally:
        os.unlink(conf.name)
    yield folder
    subprocess.run(["/usr/bin/umount", "-l", str(folder)], check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_a_rejection_report_without_acls_is_its_producers_alone(
    people: People,
    bare_spool: Path,
    start_emulator: Callable[..., Emulator],
    make_daemon: Callable[..., Daemon],
) -> None:
    sections: dict[str, dict[str, Any]] = {
        "paths": {"drop_dir": str(bare_spool)},
        "control": {"admin_group": people.admin_group},
    }
    daemon = make_daemon(start_emulator(), **sections)
    daemon.start()
    alice, bob = people.alice, people.bob
    target = bare_spool / "incoming" / "bad.jsonl"
    alice.run(
        "import os\n"
        f"t = {str(target)!r}\n"
        "p = os.path.join(os.path.dirname(t), '.bad.jsonl.part')\n"
        "open(p, 'wb').write(b'not json\\n')\n"
        "os.rename(p, t)\n"
    )
    daemon.wait_dataset("bad.jsonl", "rejected", timeout=60)
    report = bare_spool / "rejected" / "bad.errors.json"
    read_it = f"print(open({str(report)!r}).read())"
    seen = alice.run(read_it, check=False)
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout)["accepted"] is False
    refused = bob.run(read_it, check=False)
    assert refused.returncode != 0
    assert "Permission denied" in refused.stderr
    info = report.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (alice.uid, 0o600)
    status = run_ftd("status", "--json", "--socket", str(daemon.socket), timeout=30)
    kinds = [w["kind"] for w in json.loads(status.stdout)["warnings"]]
    assert "reports_not_shared" not in kinds  # it was shared, by handing it over
    assert daemon.stop(timeout=STOP_SECONDS) == 0


def test_a_daemon_that_can_neither_set_an_acl_nor_hand_over_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_acls(fd: int, uid: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(nofollow, "grant_read", no_acls)
    monkeypatch.setattr(readers, "unshared", {})
    monkeypatch.setattr(os, "geteuid", lambda: 4242)  # ftd's own user, not root
    folder = tmp_path / "rejected"
    folder.mkdir()
    write_json(folder / "x.errors.json", {"accepted": False}, root=tmp_path, reader_uid=1001)
    write_json(folder / "y.errors.json", {"accepted": False}, root=tmp_path, reader_uid=1001)
    info = (folder / "x.errors.json").stat()
    assert stat.S_IMODE(info.st_mode) == 0o600  # nobody else reads it: no group fallback
    (warning,) = readers.warnings()  # once per folder
    assert warning["kind"] == "reports_not_shared"
    assert f"{folder} has no POSIX ACLs" in warning["message"]
    assert "mount its file system with POSIX ACLs" in warning["message"]
