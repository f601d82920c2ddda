"""Saying a lasting failure once: when it starts and whenever its reason changes.

A full disk or a locked database can last hours while the daemon looks again
every few seconds; an error line at every look would bury everything else in
the journal. The first failure of a thing, and each new reason, are news at
error level; the same failure again is for debug level; the end is one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Hashable


class Repeats:
    """Per thing (a file name, a dataset id): the reason it last failed and how many times."""

    def __init__(self) -> None:
        self._failing: dict[Hashable, tuple[str, int]] = {}

    def failed(self, key: Hashable, reason: str) -> tuple[bool, int]:
        """Whether this failure is news (a first, or a new reason), and the failures in a row."""
        last, times = self._failing.get(key, ("", 0))
        self._failing[key] = (reason, times + 1)
        return reason != last, times + 1

    def ended(self, key: Hashable) -> int:
        """The failures in a row that just ended in a success (0: there were none)."""
        _, times = self._failing.pop(key, ("", 0))
        return times
