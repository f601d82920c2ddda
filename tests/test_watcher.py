"""The drop-folder watcher on a real folder: found at start, slow writers waited for, once each."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from ftd.intake import Seen
from ftd.watcher import watch_incoming

pytestmark = pytest.mark.anyio


async def test_files_are_taken_once_and_only_when_complete(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    taken_dir = tmp_path / "taken"
    incoming.mkdir()
    taken_dir.mkdir()
    early = incoming / "early.jsonl"
    early.write_text('{"a": 1}\n')
    old = time.time() - 3600
    os.utime(early, (old, old))  # was there before the daemon started
    taken: list[tuple[str, int]] = []
    all_three = anyio.Event()

    async def claim(item: Seen) -> None:
        taken.append((item.name, item.size))
        if len(taken) == 3:
            all_three.set()
        os.rename(incoming / item.name, taken_dir / item.name)  # what the daemon does

    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: watch_incoming(
                str(incoming),
                claim,
                stable_seconds=0.5,
                rescan_seconds=2.0,
                task_status=task_status,
            )
        )
        assert taken == [("early.jsonl", 9)]  # taken by the first scan

        # A producer that writes in place, slowly.
        slow = incoming / "slow.jsonl"
        with slow.open("w") as f:
            for i in range(5):
                f.write(f'{{"n": {i}}}\n')
                f.flush()
                await anyio.sleep(0.2)
        # A producer that follows the contract: write elsewhere, rename in.
        staged = tmp_path / "staged.jsonl"
        staged.write_text('{"b": 2}\n' * 3)
        os.rename(staged, incoming / "renamed.jsonl")
        (incoming / ".hidden.jsonl").write_text("{}\n")
        (incoming / "partial.jsonl.part").write_text("{")
        with anyio.fail_after(10):
            await all_three.wait()
        await anyio.sleep(1.0)  # nothing more arrives
        tg.cancel_scope.cancel()

    assert sorted(taken) == [("early.jsonl", 9), ("renamed.jsonl", 27), ("slow.jsonl", 45)]


async def test_cancelling_the_watcher_is_prompt(tmp_path: Path) -> None:
    async def ignore(item: Seen) -> None:
        raise AssertionError(f"nothing was dropped, yet {item.name} was reported")

    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: watch_incoming(
                str(tmp_path), ignore, stable_seconds=1, rescan_seconds=60, task_status=task_status
            )
        )
        await anyio.sleep(0.3)
        started = time.perf_counter()
        tg.cancel_scope.cancel()
    # A daemon asked to stop must not wait on the watcher thread.
    assert time.perf_counter() - started < 1.0


async def test_a_name_the_event_source_cannot_decode_does_not_stop_the_watcher(
    tmp_path: Path,
) -> None:
    taken: list[str] = []
    good = anyio.Event()

    async def claim(item: Seen) -> None:
        taken.append(item.name)
        os.rename(tmp_path / item.name, tmp_path / f"{item.name}.taken")
        good.set()

    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: watch_incoming(
                str(tmp_path), claim, stable_seconds=0, rescan_seconds=60, task_status=task_status
            )
        )
        # watchfiles cannot report this name; the events are lost, the watcher is not.
        (tmp_path / os.fsdecode(b"latin1-\xe9.jsonl")).write_text("{}\n")
        await anyio.sleep(0.5)
        staged = tmp_path / "staged"
        staged.write_text("{}\n")
        os.rename(staged, tmp_path / "after.jsonl")
        with anyio.fail_after(5):  # long before the 60 s rescan
            await good.wait()
        tg.cancel_scope.cancel()
    assert taken == ["after.jsonl"]
