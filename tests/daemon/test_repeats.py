"""Which failures are news: the first, and each new reason; then how many ended."""

from __future__ import annotations

from ftd.daemon.repeats import Repeats


def test_news_is_a_first_failure_or_a_new_reason_and_an_end_forgets() -> None:
    repeats = Repeats()
    assert repeats.failed("a", "disk full") == (True, 1)
    assert repeats.failed("a", "disk full") == (False, 2)
    assert repeats.failed("b", "disk full") == (True, 1)  # each thing on its own
    assert repeats.failed("a", "read-only") == (True, 3)
    assert repeats.ended("a") == 3
    assert repeats.ended("a") == 0
    assert repeats.failed("a", "read-only") == (True, 1)  # a new spell is news again
