"""Kept validation processes: reused for small files, ended after a large one or a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftd.daemon.workers import SMALL_FILE_BYTES, WorkerFailed, Workers, environment
from tests.daemon.test_prepare_worker import _spec

pytestmark = pytest.mark.anyio


async def test_small_files_share_one_process_and_a_large_one_ends_it(tmp_path: Path) -> None:
    workers = Workers(environment(()))
    try:
        for number in range(3):
            folder = tmp_path / str(number)
            folder.mkdir()
            result = await workers.prepare(_spec(folder, 40), size=1000)
            assert result["accepted"] is True
        assert workers.started == 1
        big = tmp_path / "big"
        big.mkdir()
        await workers.prepare(_spec(big, 40), size=SMALL_FILE_BYTES + 1)
        again = tmp_path / "again"
        again.mkdir()
        await workers.prepare(_spec(again, 40), size=1000)
        assert workers.started == 2  # the one that took the large file was not kept
    finally:
        await workers.aclose()


async def test_a_request_the_child_cannot_handle_fails_and_the_next_gets_a_new_child(
    tmp_path: Path,
) -> None:
    workers = Workers(environment(()))
    try:
        with pytest.raises(WorkerFailed, match="KeyError"):
            await workers.prepare({"not": "a spec"}, size=10)
        result = await workers.prepare(_spec(tmp_path, 40), size=1000)
        assert result["accepted"] is True
        assert workers.started == 2
    finally:
        await workers.aclose()
