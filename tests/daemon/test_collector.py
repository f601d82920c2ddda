"""The daemon's collector: what existed at start frozen, the young collected rarely."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ftd.daemon.collector import YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored")
def test_the_collector_is_tuned_once_the_daemon_has_started() -> None:
    gc.unfreeze()
    _, middle, old = gc.get_threshold()
    kept = [object()]  # a container that lives on, as the daemon's parts do
    assert any(found is kept for found in gc.get_objects())
    tune_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(kept)
    # Frozen: in no generation, so no collection walks it again.
    assert all(found is not kept for found in gc.get_objects())
