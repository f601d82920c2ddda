"""The spend guard's way out: a dataset waiting for approval goes on once a person says so.

Saying so is ``ftd approve ID`` through the control socket, or, for those who
can write the drop folder but not reach the socket, creating an empty file
named like the processed dataset plus ``.approve`` (``touch processed/faq.jsonl.approve``).
The marker is left where it is: it records who approved, by its owner and time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ftd.daemon.prepare import approve_marker
from ftd.logs import get_logger
from ftd.store import states

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from ftd.store import Store

log = get_logger("ftd.daemon.approval")
CHECK_SECONDS = 2.0


async def watch_approvals(
    store: Store,
    on_approved: Callable[[], None],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        for row in await store.datasets([states.AWAITING_APPROVAL]):
            dataset = (await store.files(row.id)).get("dataset")
            if dataset is None or dataset.moving_from is not None:
                continue
            marker = approve_marker(Path(dataset.path))
            if not await anyio.Path(marker).exists():
                continue
            if await store.transition(
                row.id,
                states.AWAITING_APPROVAL,
                states.READY,
                approved_at=time.time(),
                detail={"approved_by": str(marker)},
            ):
                on_approved()
        await anyio.sleep(CHECK_SECONDS)
