"""ftd's state in SQLite: the schema, its migrations, and typed queries."""

from __future__ import annotations

from ftd.store.db import DatasetRow, Store, StoreError

__all__ = ["DatasetRow", "Store", "StoreError"]
