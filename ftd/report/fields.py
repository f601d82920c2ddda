"""Reading stored JSON (validator reports, evaluation summaries) into typed fields.

The report is drawn from JSON written by other parts of ftd, possibly by an
older version: a missing key is simply absent from the page, but a value of
the wrong type is an error that names where it was found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ftd.errors import FtdError


class ReportDataError(FtdError):
    """Stored data a report is drawn from has a value of the wrong shape; names which."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"report data {where}: {message}")
        self.where = where


class Fields:
    """A JSON object and where it came from, with typed, optional getters."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ReportDataError(where, f"expected an object, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.where = where

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ReportDataError(self._at(key), f"expected a number, got {value!r:.60}")
        if not math.isfinite(value):
            return None
        return float(value)

    def integer(self, key: str) -> int | None:
        value = self.number(key)
        if value is None:
            return None
        if value != int(value):
            raise ReportDataError(self._at(key), f"expected a whole number, got {value!r}")
        return int(value)

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ReportDataError(self._at(key), f"expected text, got {value!r:.60}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise ReportDataError(self._at(key), f"expected true or false, got {value!r:.60}")
        return value

    def child(self, key: str) -> Fields | None:
        value = self.data.get(key)
        return None if value is None else Fields(value, self._at(key))

    def children(self, key: str) -> list[Fields]:
        """A list of objects (an absent key is an empty list)."""
        return [Fields(item, f"{self._at(key)}[{i}]") for i, item in enumerate(self.items(key))]

    def items(self, key: str) -> Sequence[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ReportDataError(self._at(key), f"expected a list, got {value!r:.60}")
        return value

    def mapping(self, key: str) -> dict[str, Fields]:
        """An object of objects, such as graders by name (an absent key is empty)."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ReportDataError(self._at(key), f"expected an object, got {value!r:.60}")
        return {str(name): Fields(item, f"{self._at(key)}.{name}") for name, item in value.items()}
