"""Optional SQLite journal of the emulator's records, for ``--state PATH``.

Every record is written through as JSON the moment it changes, in WAL mode,
so a killed emulator loses nothing it had answered for. On start the records
are read back in their original order. The stdlib driver is used directly:
each write is one small row and takes well under a millisecond, less than a
hop to a worker thread would.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import orjson

from ftd.errors import FtdError

if TYPE_CHECKING:
    from pathlib import Path

FILE = "file"
UPLOAD = "upload"
JOB = "job"
DELETED_MODEL = "deleted_model"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""


class StateError(FtdError):
    """The state database cannot be opened or read."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class Journal:
    """Write-through storage of records; a no-op when the emulator runs in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateError(path, f"cannot open state database: {exc}") from exc
        self._db = db

    @property
    def blob_dir(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.name + ".blobs")

    def load(self, kind: str) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT body FROM records WHERE kind = ? ORDER BY rowid", (kind,)
        ).fetchall()
        return [orjson.loads(body) for (body,) in rows]

    def save(self, kind: str, record_id: str, body: dict[str, Any]) -> None:
        if self._db is None:
            return
        self._db.execute(
            "INSERT INTO records (kind, id, body) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
            (kind, record_id, orjson.dumps(body).decode()),
        )

    def delete(self, kind: str, record_id: str) -> None:
        if self._db is not None:
            self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
