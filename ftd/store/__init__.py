"""ftd's state in SQLite: the schema, its migrations, and typed queries."""

from __future__ import annotations

from ftd.store.db import Store, StoreError, Tx
from ftd.store.rows import DatasetRow, FileRow, JobRow, SplitRow, UploadRow

__all__ = ["DatasetRow", "FileRow", "JobRow", "SplitRow", "Store", "StoreError", "Tx", "UploadRow"]
