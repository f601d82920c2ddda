"""Deciding when a file in the drop folder is complete and may be taken.

Producers should write elsewhere and rename into ``incoming/``; many do not.
watchfiles reports a file written in place as added after its first chunk, so
events are only hints to look again: a file is taken when ``stat`` shows the
same size, modification time and inode for ``stable_seconds``. A file renamed
in after being written earlier (its mtime already that old) is taken at once.
Names that editors, browsers and copy tools use for partial files are never
taken, nor are hidden files, links, or anything but a regular file.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

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
    owner: int = -1  # the uid that owns it: producers are served in turn

    def same_file_as(self, other: Seen) -> bool:
        return (self.size, self.mtime_ns, self.inode) == (other.size, other.mtime_ns, other.inode)


@dataclass(frozen=True, slots=True)
class Skipped:
    name: str
    reason: str


MAX_SIDECAR_BYTES = 64 << 10
COMPANION_KEYS = ("validation_file", "test_file")


def read_sidecar(path: str) -> bytes | None:
    """A sidecar's bytes, or None unless it is a regular file of at most MAX_SIDECAR_BYTES.

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
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
        except OSError:
            return None
    return raw if len(raw) <= MAX_SIDECAR_BYTES else None


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
            seen.append(Seen(entry.name, info.st_size, info.st_mtime_ns, info.st_ino, info.st_uid))
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

    def update(self, observed: list[Seen], now: float) -> list[Seen]:
        """Files that are complete as of ``now``; forgets files no longer present."""
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
