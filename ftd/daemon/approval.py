"""The spend guard's way out: a dataset waiting for approval goes on once an admin says so.

Saying so is ``ftd approve ID`` through the control socket (which asks for
the admin rights of ``control.admin_group``), or, for an admin who can reach
the drop folder but not the socket, creating an empty file named like the
processed dataset plus ``.approve`` (``touch processed/faq.jsonl.approve``).
A marker counts only if it is a regular file owned by root, by ftd or by a
member of ``control.admin_group``: producers can put files into
``processed/`` (a sidecar's companions travel there), so a file's presence
alone proves nothing. The marker is left where it is: it records who
approved, by its owner and time.
"""

from __future__ import annotations

import os
import stat
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


def marker_owner(marker: Path) -> int | None:
    """The owner of a marker that is a regular file (a link is never followed); else None."""
    try:
        info = os.lstat(marker)
    except OSError:
        return None
    return info.st_uid if stat.S_ISREG(info.st_mode) else None


async def watch_approvals(
    store: Store,
    on_approved: Callable[[], None],
    may_approve: Callable[[int], bool] = lambda _uid: False,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Approve held datasets whose marker an admin made; say once of each refused one."""
    task_status.started()
    refused: set[tuple[int, int]] = set()
    while True:
        for row in await store.datasets([states.AWAITING_APPROVAL]):
            dataset = (await store.files(row.id)).get("dataset")
            if dataset is None or dataset.moving_from is not None:
                continue
            marker = approve_marker(Path(dataset.path))
            owner = await anyio.to_thread.run_sync(marker_owner, marker)
            if owner is None:
                continue
            if not may_approve(owner):
                if (row.id, owner) not in refused:
                    refused.add((row.id, owner))
                    log.warning(
                        "approval_marker_refused",
                        dataset_id=row.id,
                        marker=str(marker),
                        owner_uid=owner,
                        reason="its owner is not root, ftd or a member of control.admin_group",
                    )
                continue
            if await store.transition(
                row.id,
                states.AWAITING_APPROVAL,
                states.READY,
                approved_at=time.time(),
                detail={"approved_by": str(marker), "owner_uid": owner},
            ):
                on_approved()
        await anyio.sleep(CHECK_SECONDS)
