"""Commands that change things: a job's course, a dataset's second chance, approval, adoption.

Each one records who asked (the peer's uid, which the server also logs) and
goes through the same paths as the daemon's own work: a state change is a
compare-and-set on the database, a provider call goes through ``Remote``, and
the stage or tracker concerned is woken to carry on at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.control.handlers import args as arg
from ftd.control.handlers import runs
from ftd.control.handlers.show import find_dataset, find_job
from ftd.control.protocol import (
    CONFLICT,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PROVIDER_ERROR,
    UNAVAILABLE,
)
from ftd.control.server import CommandError
from ftd.daemon import deployments
from ftd.daemon.claim import plan_moves
from ftd.daemon.files import settle_moves
from ftd.errors import FtdError, RemoteError
from ftd.providers.kinds import INVALID, UNSUPPORTED
from ftd.providers.kinds import NOT_FOUND as REMOTE_NOT_FOUND
from ftd.store import states

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ftd.control.server import Call
    from ftd.daemon.parts import Parts
    from ftd.providers import RemoteJob

RETRYABLE = (states.REJECTED, states.FAILED, states.BLOCKED)


def _provider_refusal(exc: RemoteError, what: str) -> CommandError:
    if exc.kind == REMOTE_NOT_FOUND:
        return CommandError(NOT_FOUND, f"the provider does not know {what}: {exc}")
    if exc.kind in (INVALID, UNSUPPORTED):
        return CommandError(CONFLICT, f"the provider refused: {exc}")
    return CommandError(PROVIDER_ERROR, f"the provider could not be asked: {exc}")


async def _job_action(parts: Parts, call: Call, verb: str) -> dict[str, Any]:
    key = arg.required_text(call.args, "job")
    job = await find_job(parts.store, key)
    if job is None:
        raise CommandError(
            NOT_FOUND, f"no job {key!r} followed here; `ftd adopt {key}` follows one first"
        )
    if job["status"] in states.JOB_FINAL:
        raise CommandError(CONFLICT, f"job {job['job_id']} has {job['status']}; nothing to {verb}")
    provider = parts.providers.get(job["provider"])
    action: Callable[[str], Awaitable[RemoteJob]] = {
        "cancel": provider.cancel_job,
        "pause": provider.pause_job,
        "resume": provider.resume_job,
    }[verb]
    try:
        answer = await action(job["job_id"])
    except RemoteError as exc:
        raise _provider_refusal(exc, job["job_id"]) from None
    parts.tracker.wake()
    return {"job_id": answer.id, "status": answer.status, "previous": job["status"]}


async def cancel(parts: Parts, call: Call) -> dict[str, Any]:
    return await _job_action(parts, call, "cancel")


async def pause(parts: Parts, call: Call) -> dict[str, Any]:
    return await _job_action(parts, call, "pause")


async def resume(parts: Parts, call: Call) -> dict[str, Any]:
    return await _job_action(parts, call, "resume")


async def _dataset(parts: Parts, call: Call) -> dict[str, Any]:
    key = arg.required_text(call.args, "dataset")
    row = await find_dataset(parts.store, key)
    if row is None:
        raise CommandError(NOT_FOUND, f"no dataset {key!r} (see `ftd datasets`)")
    return row


async def retry(parts: Parts, call: Call) -> dict[str, Any]:
    """A rejected dataset is validated again (its sidecar re-read); a failed or blocked one
    goes back to where it stopped: validation if it never passed, else upload and job."""
    row = await _dataset(parts, call)
    state = row["state"]
    if state == states.SUBMITTED:
        return await runs.retry_run(parts, call, row)  # its job was cancelled or failed
    if state not in RETRYABLE:
        raise CommandError(
            CONFLICT,
            f"dataset {row['id']} ({row['name']}) is {state}; only "
            f"{', '.join(RETRYABLE)} datasets can be retried",
        )
    store = parts.store
    splits = await store.splits(row["id"])
    who = {"retried_by": call.peer.describe()}
    reset: dict[str, Any] = {"attempts": 0, "next_attempt_at": None, "error": None}
    if state != states.REJECTED and splits:
        if not await store.transition(row["id"], state, states.READY, detail=who, **reset):
            raise CommandError(CONFLICT, f"dataset {row['id']} changed meanwhile; look again")
        parts.wake_submit()
        return {"dataset_id": row["id"], "state": states.READY, "previous": state}
    files = await store.files(row["id"])
    dataset = files.get("dataset")
    if dataset is None or not await anyio.Path(dataset.path).exists():
        where = dataset.path if dataset else "its recorded place"
        raise CommandError(
            CONFLICT, f"dataset {row['id']}'s file is no longer at {where}; drop it again"
        )
    moves: dict[str, tuple[str, str]] = {}
    if state == states.REJECTED:
        source = Path(dataset.path)
        work = parts.settings.paths.drop.processing / row["tag"]
        moves = plan_moves(source.parent, source.name, work)
    async with store.transaction() as tx:
        if not await tx.transition(
            row["id"], state, states.DETECTED, moves=moves, detail=who, report=None, **reset
        ):
            raise CommandError(CONFLICT, f"dataset {row['id']} changed meanwhile; look again")
        if moves:
            # A sidecar or companion removed since the rejection no longer belongs to it.
            roles = sorted(moves)
            await tx.execute(
                "DELETE FROM dataset_files WHERE dataset_id = ? "  # noqa: S608
                f"AND role NOT IN ({', '.join('?' * len(roles))})",
                (row["id"], *roles),
            )
    await settle_moves(store, row["id"], root=parts.settings.paths.drop.root)
    parts.wake_prepare()
    return {"dataset_id": row["id"], "state": states.DETECTED, "previous": state}


async def approve(parts: Parts, call: Call) -> dict[str, Any]:
    row = await _dataset(parts, call)
    if row["state"] != states.AWAITING_APPROVAL:
        raise CommandError(
            CONFLICT,
            f"dataset {row['id']} ({row['name']}) is {row['state']}, not awaiting approval",
        )
    if not await parts.store.transition(
        row["id"],
        states.AWAITING_APPROVAL,
        states.READY,
        approved_at=time.time(),
        detail={"approved_by": call.peer.describe()},
    ):
        raise CommandError(CONFLICT, f"dataset {row['id']} changed meanwhile; look again")
    parts.wake_submit()
    return {
        "dataset_id": row["id"],
        "state": states.READY,
        "estimated_cost_usd": row["estimated_cost_usd"],
    }


async def adopt(parts: Parts, call: Call) -> dict[str, Any]:
    job_id = arg.required_text(call.args, "job")
    try:
        followed = await parts.tracker.adopt(job_id)
    except RemoteError as exc:
        raise _provider_refusal(exc, job_id) from None
    job = await find_job(parts.store, followed or job_id)
    return {
        "job_id": job["job_id"] if job else followed or job_id,
        "asked": job_id,
        "adopted": followed is not None,
        "already_followed": followed is None,
        "status": job["status"] if job else None,
    }


async def reload(parts: Parts, call: Call) -> dict[str, Any]:
    if parts.reload is None:
        raise CommandError(UNAVAILABLE, "this daemon cannot reload its configuration")
    return await parts.reload()


async def keep(parts: Parts, call: Call) -> dict[str, Any]:
    """A model's live deployments outlive their evaluation, or (keep false) no longer."""
    model = arg.required_text(call.args, "model")
    wanted = call.args.get("keep", True)
    if not isinstance(wanted, bool):
        raise CommandError(INVALID_ARGUMENT, "keep must be true or false")
    try:
        changed = await deployments.keep(parts.store, model, kept=wanted)
    except FtdError as exc:
        raise CommandError(NOT_FOUND, str(exc)) from None
    if parts.deployer is not None:
        parts.deployer.wake()
    return {"model": model, "keep": wanted, "deployments": [row.name for row in changed]}
