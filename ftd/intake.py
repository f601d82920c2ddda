"""Deciding when a file in the drop folder is complete and may be taken.

Producers should write elsewhere and rename into ``incoming/``; many do not.
watchfiles reports a file written in place as added after its first chunk, so
events are only hints to look again: a file is taken when ``stat`` shows the
same size, modification time and inode for ``stable_seconds``. A file renamed
in after being written earlier (its mtime already that old) is taken at once.
Names that editors, browsers and copy tools use for partial files are never
taken, nor are hidden files, links, or anything but a regular file.

A file published by ``ftd submit`` (``ftd.submit``) is complete when it
appears, so it is taken at once on its *ticket*: after the rename, the
publisher writes ``staging/published-INODE.json`` holding the file's name,
inode, size, mtime and ctime as they are after publishing. The daemon takes
the file at once only while all five still match. ctime cannot be set from
user space and changes with every write (and with ``utime``), so a producer
that writes a ticket and then goes on writing, or that writes in place and
resets the mtime, no longer matches and waits out ``stable_seconds`` like
anyone else; a ticket only vouches for the exact bytes it was written for.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

DATASET_SUFFIX = ".jsonl"
# The names ftd derives from a dataset's (NAME-2.jsonl, .NAME.errors.json.tmp,
# NAME.validation.jsonl) must stay within a file system's 255 bytes.
MAX_NAME_BYTES = 200
SIDECAR_SUFFIX = ".toml"
# Partial-file names of browsers, rsync, WinSCP, LibreOffice, editors and copy tools.
TEMPORARY_SUFFIXES = (
    ".part",
    ".partial",
    ".tmp",
    ".temp",
    ".crdownload",
    ".download",
    ".filepart",
    ".swp",
    ".swx",
    ".!sync",
    "~",
)


def ignored_reason(name: str) -> str | None:
    """Why a name in ``incoming/`` is not a dataset, or None when it is one."""
    if name.startswith((".", "~$", "#")):
        return "hidden or temporary name"
    lowered = name.lower()
    if lowered.endswith(TEMPORARY_SUFFIXES):
        return "temporary name"
    if lowered.endswith(SIDECAR_SUFFIX):
        return "sidecar"
    if not lowered.endswith(DATASET_SUFFIX):
        return "not a .jsonl file"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        # os.listdir shows such bytes as surrogates, which the database, the
        # logs and the reports (all UTF-8) cannot hold.
        return "name is not valid UTF-8; rename the file"
    if size > MAX_NAME_BYTES:
        return f"name is {size} bytes; ftd takes names of up to {MAX_NAME_BYTES}"
    return None


@dataclass(frozen=True, slots=True)
class Seen:
    """One look at a candidate file."""

    name: str
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int = 0
    owner: int = -1  # the uid that owns it: producers are served in turn

    def same_file_as(self, other: Seen) -> bool:
        return (self.size, self.mtime_ns, self.inode) == (other.size, other.mtime_ns, other.inode)


TICKET_PREFIX = "published-"
TICKET_SUFFIX = ".json"
MAX_TICKET_BYTES = 4096
TICKET_KEYS = ("name", "inode", "size", "mtime_ns", "ctime_ns")


def ticket_name(inode: int) -> str:
    return f"{TICKET_PREFIX}{inode}{TICKET_SUFFIX}"


def ticket_body(name: str, info: os.stat_result) -> bytes:
    """What a publisher writes once the file has its final name (see the module note)."""
    values = (name, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return json.dumps(dict(zip(TICKET_KEYS, values, strict=True))).encode()


TICKET_MAX_AGE_SECONDS = 3600.0  # a ticket whose file never showed up is kept this long


def prune_tickets(staging: str, live_inodes: set[int], now: float) -> int:
    """Remove tickets whose file is gone from ``incoming/`` and that are an hour old; how many."""
    removed = 0
    try:
        with os.scandir(staging) as listing:
            entries = [e for e in listing if e.name.startswith(TICKET_PREFIX)]
    except OSError:
        return 0
    for entry in entries:
        number = entry.name[len(TICKET_PREFIX) :].removesuffix(TICKET_SUFFIX)
        if not entry.name.endswith(TICKET_SUFFIX) or not number.isdigit():
            continue  # not a ticket's name: not ftd's to remove
        try:
            if int(number) in live_inodes:
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < TICKET_MAX_AGE_SECONDS:
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def vouched(staging: str, item: Seen) -> bool:
    """Whether a publisher's ticket in ``staging`` matches this look at the file exactly."""
    raw = read_sidecar(os.path.join(staging, ticket_name(item.inode)), limit=MAX_TICKET_BYTES)
    if raw is None:
        return False
    try:
        ticket = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    if not isinstance(ticket, dict) or item.ctime_ns == 0:
        return False
    expected = (item.name, item.inode, item.size, item.mtime_ns, item.ctime_ns)
    return all(
        type(ticket.get(key)) is type(value) and ticket.get(key) == value
        for key, value in zip(TICKET_KEYS, expected, strict=True)
    )


@dataclass(frozen=True, slots=True)
class Skipped:
    name: str
    reason: str


MAX_SIDECAR_BYTES = 64 << 10
COMPANION_KEYS = ("validation_file", "test_file")


def read_sidecar(path: str, *, limit: int = MAX_SIDECAR_BYTES) -> bytes | None:
    """A sidecar's bytes, or None unless it is a regular file of at most ``limit`` bytes.

    Opened without following a link and without waiting for a writer, so a
    FIFO or a link named like a sidecar can neither hang ftd nor be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            raw = handle.read(limit + 1)
        except OSError:
            return None
    return raw if len(raw) <= limit else None


def sidecar_companions(sidecar: str) -> dict[str, str]:
    """role -> relative path of the validation and test files a sidecar names.

    Only a quick read to know which files travel with a dataset; the sidecar is
    validated in full, with errors that name it, when its dataset is prepared.
    """
    raw = read_sidecar(sidecar)
    if raw is None:
        return {}
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return {}
    found: dict[str, str] = {}
    for key in COMPANION_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value and not PurePosixPath(value).is_absolute():
            found[key.removesuffix("_file")] = value
    return found


def _companion_names(directory: str, names: list[str]) -> dict[tuple[str, int], str]:
    """(name, owner uid) of files in ``directory`` that a sidecar there names -> the sidecar.

    They travel with its dataset; only a file of the sidecar's own owner is
    held back so, or a sidecar could keep another producer's dataset waiting
    for ever.
    """
    owners: dict[tuple[str, int], str] = {}
    for name in names:
        if not name.lower().endswith(SIDECAR_SUFFIX) or ignored_reason(name) != "sidecar":
            continue
        path = os.path.join(directory, name)
        try:
            uid = os.lstat(path).st_uid
        except OSError:
            continue
        for relative in sidecar_companions(path).values():
            parts = PurePosixPath(relative).parts
            if len(parts) == 1:
                owners[(parts[0], uid)] = name
    return owners


def scan(directory: str) -> tuple[list[Seen], list[Skipped]]:
    """Regular ``.jsonl`` files in ``directory`` (not following links), and what was skipped."""
    seen: list[Seen] = []
    skipped: list[Skipped] = []
    with os.scandir(directory) as listing:
        entries = list(listing)
    companions = _companion_names(directory, [entry.name for entry in entries])
    for entry in entries:
        reason = ignored_reason(entry.name)
        if reason == "sidecar":
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # gone between listing and looking
        sidecar = companions.get((entry.name, info.st_uid))
        if sidecar is not None:
            skipped.append(Skipped(entry.name, f"named by sidecar {sidecar}"))
            continue
        if reason is not None:
            skipped.append(Skipped(entry.name, reason))
            continue
        if stat.S_ISLNK(info.st_mode):
            skipped.append(Skipped(entry.name, "a symbolic link; drop the file itself"))
        elif not stat.S_ISREG(info.st_mode):
            skipped.append(Skipped(entry.name, "not a regular file"))
        else:
            seen.append(
                Seen(
                    entry.name,
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ino,
                    info.st_ctime_ns,
                    info.st_uid,
                )
            )
    return seen, skipped


def in_turn(items: list[Seen]) -> list[Seen]:
    """Each owner's first file, then each one's second, and so on (names in order within)."""
    queues: dict[int, list[Seen]] = {}
    for item in sorted(items, key=lambda seen: seen.name):
        queues.setdefault(item.owner, []).append(item)
    ordered: list[Seen] = []
    for turn in range(max((len(q) for q in queues.values()), default=0)):
        ordered.extend(q[turn] for q in queues.values() if turn < len(q))
    return ordered


@dataclass(slots=True)
class Stability:
    """Remembers when each candidate was last seen changed; says which are complete."""

    stable_seconds: float
    _since: dict[str, tuple[Seen, float]] = field(default_factory=dict)

    def update(
        self, observed: list[Seen], now: float, vouched: Callable[[Seen], bool] | None = None
    ) -> list[Seen]:
        """Files that are complete as of ``now``; forgets files no longer present.

        ``vouched`` says whether a publisher's ticket matches a file still
        waiting; such a file is complete at once.
        """
        ready: list[Seen] = []
        current: dict[str, tuple[Seen, float]] = {}
        for item in observed:
            before = self._since.get(item.name)
            if before is None:
                # First look: at best it has not changed since it was last written.
                unchanged_since = min(now, item.mtime_ns / 1e9)
            elif before[0].same_file_as(item):
                unchanged_since = before[1]
            else:
                unchanged_since = now  # changed since the last look
            if (
                now - unchanged_since < self.stable_seconds
                and vouched is not None
                and vouched(item)
            ):
                unchanged_since = now - self.stable_seconds
            current[item.name] = (item, unchanged_since)
            if now - unchanged_since >= self.stable_seconds:
                ready.append(item)
        self._since = current
        return ready

    def next_check(self, now: float) -> float | None:
        """Seconds until the earliest pending file could become complete."""
        waits = [since + self.stable_seconds - now for _, since in self._since.values()]
        pending = [w for w in waits if w > 0]
        return min(pending) if pending else None
