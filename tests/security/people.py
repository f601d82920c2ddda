"""Real users and the shipped drop-folder layout, for tests of producers who distrust each other.

The tests run as root: they make a daemon user, a producers' group, an admin
group and two producers (names unique to the run, removed afterwards), lay
the drop folder out with ``systemd-tmpfiles`` from ``systemd/ftd.tmpfiles``
itself (paths and names swapped for the test's), and act as a producer
through a child process that runs with that producer's uid, gid and umask.
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED_TMPFILES = Path(__file__).resolve().parents[2] / "systemd" / "ftd.tmpfiles"
SHIPPED_SPOOL = "/var/spool/ftd"
RENAME_EXCHANGE = 2
# The test's own interpreter may live under root's home, where producers cannot
# reach; the system one runs their snippets, with ftd on its path for ``ftd submit``.
PRODUCER_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
_SITE = [p for p in sys.path if p.endswith("site-packages")]
PRODUCER_PATH = os.pathsep.join([str(Path(__file__).resolve().parents[2]), *_SITE])
AT_FDCWD = -100


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int

    def command(self, code: str, *args: str) -> list[str]:
        return [PRODUCER_PYTHON, "-c", code, *args]

    def options(self, *, umask: int = 0o022, timeout: float = 60.0) -> dict[str, Any]:
        """subprocess.run's keywords for a process of this user's (its own groups only)."""
        return {
            "user": self.uid,
            "group": self.gid,
            "extra_groups": [g.gr_gid for g in grp.getgrall() if self.name in g.gr_mem],
            "umask": umask,
            "capture_output": True,
            "text": True,
            "timeout": timeout,
            "cwd": "/",
            "env": {"PATH": "/usr/bin:/bin", "HOME": "/", "PYTHONPATH": PRODUCER_PATH},
        }

    def run(
        self,
        code: str,
        *,
        umask: int = 0o022,
        timeout: float = 60.0,
        check: bool = True,
        argv: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Python ``code`` run as this user; output captured."""
        done = subprocess.run(
            self.command(code, *argv),
            **self.options(umask=umask, timeout=timeout),
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"as {self.name}: exit {done.returncode}\n{done.stderr}")
        return done

    def start(self, code: str, *args: str) -> subprocess.Popen[str]:
        """Python ``code`` running as this user in the background (an attacker's loop)."""
        return subprocess.Popen(
            [PRODUCER_PYTHON, "-c", code, *args],
            user=self.uid,
            group=self.gid,
            extra_groups=[g.gr_gid for g in grp.getgrall() if self.name in g.gr_mem],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd="/",
        )


@dataclass(frozen=True)
class People:
    """Who takes part: the daemon's user, two producers, an admin, and their groups."""

    daemon: User
    alice: User
    bob: User
    admin: User
    producers_group: str
    admin_group: str


def _tool(*args: str, check: bool = True, timeout: float = 60) -> None:
    """An administration tool, by its full path."""
    command = [shutil.which(args[0]) or args[0], *args[1:]]
    subprocess.run(command, check=check, capture_output=True, timeout=timeout)


def make_people(tag: str) -> People:
    producers, admins = f"ftdsub{tag}", f"ftdadm{tag}"
    _tool("groupadd", producers)
    _tool("groupadd", admins)
    made: list[User] = []
    for role, groups in (("d", ""), ("a", producers), ("b", producers), ("m", admins)):
        name = f"ftd{role}{tag}"
        args = ["useradd", "-M", "-N", "-d", "/nonexistent", "-s", "/usr/sbin/nologin"]
        if groups:
            args += ["-G", groups]
        _tool(*args, name)
        entry = pwd.getpwnam(name)
        made.append(User(name, entry.pw_uid, entry.pw_gid))
    return People(made[0], made[1], made[2], made[3], producers, admins)


def remove_people(people: People) -> None:
    for user in (people.daemon, people.alice, people.bob, people.admin):
        _tool("userdel", user.name, check=False)
    for group in (people.producers_group, people.admin_group):
        _tool("groupdel", group, check=False)


def tmpfiles_for(spool: Path, people: People) -> str:
    """The shipped ftd.tmpfiles with the test's spool path, daemon user and group."""
    lines: list[str] = []
    for line in SHIPPED_TMPFILES.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        fields[1] = fields[1].replace(SHIPPED_SPOOL, str(spool), 1)
        if fields[0].startswith("d"):
            fields[3] = people.daemon.name if fields[3] == "ftd" else fields[3]
            fields[4] = people.producers_group if fields[4] == "ftd-submit" else fields[4]
        if fields[0].startswith("a"):
            fields[6] = fields[6].replace("user:ftd:", f"user:{people.daemon.name}:")
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def lay_out(spool: Path, people: People) -> None:
    """The drop folder exactly as the shipped tmpfiles.d entry makes it."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(tmpfiles_for(spool, people))
    try:
        _tool("systemd-tmpfiles", "--create", conf.name)
    finally:
        os.unlink(conf.name)


def open_base() -> Path:
    """A folder every user may pass through (pytest's own is root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="ftd-security-"))
    base.chmod(0o755)
    return base


def prerequisites() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: the tests make real users and groups"
    for tool in ("useradd", "groupadd", "systemd-tmpfiles"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if shutil.which("setfacl") is None and shutil.which("apt-get") is not None:
        os.environ.setdefault("DEBIAN_FRONTEND", "noninteractive")
        _tool("apt-get", "install", "-y", "-qq", "acl", check=False, timeout=300)
    if shutil.which("getfacl") is None:
        return "needs getfacl/setfacl (Debian package acl), which could not be installed"
    return None


def exchange(a: str, b: str) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE), as an attacker may."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), a)


# An attacker's loop swapping two names for ``seconds`` (run as a producer).
FLAP = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, seconds = sys.argv[1].encode(), sys.argv[2].encode(), float(sys.argv[3])
end = time.monotonic() + seconds
swaps = 0
while time.monotonic() < end and not os.path.exists(sys.argv[4]):
    libc.renameat2(-100, a, -100, b, 2)
    swaps += 1
if swaps % 2:
    libc.renameat2(-100, a, -100, b, 2)
"""
