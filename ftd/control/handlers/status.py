"""``status``: is the daemon well, what is it doing, and what should a person look at."""

from __future__ import annotations

import datetime
import shutil
import time
from typing import TYPE_CHECKING, Any

from ftd import __version__
from ftd.control.handlers.profile_health import by_profile
from ftd.control.handlers.recordings import unrecorded_warnings
from ftd.control.handlers.spend import spend
from ftd.daemon import readers
from ftd.profiles import DEFAULT_PROFILE
from ftd.store import deployments as deployment_rows
from ftd.store import outbox, states
from ftd.store import runs as run_rows

if TYPE_CHECKING:
    from pathlib import Path

    from ftd.control.server import Call
    from ftd.daemon.parts import Parts

LOW_DISK_BYTES = 1 << 30
LOW_DISK_SHARE = 0.05


async def counts(parts: Parts) -> dict[str, dict[str, int]]:
    store = parts.store
    datasets = await store.read("SELECT state, count(*) AS n FROM datasets GROUP BY state")
    jobs = await store.read("SELECT status, count(*) AS n FROM jobs GROUP BY status")
    return {
        "datasets": {r["state"]: r["n"] for r in datasets},
        "jobs": {r["status"]: r["n"] for r in jobs},
    }


def _disk_warnings(places: dict[str, Path]) -> list[dict[str, str]]:
    warnings = []
    seen: set[int] = set()
    for name, path in places.items():
        try:
            device = path.stat().st_dev
            usage = shutil.disk_usage(path)
        except OSError as exc:
            warnings.append({"kind": "path_unusable", "message": f"{name} {path}: {exc}"})
            continue
        if device in seen:
            continue
        seen.add(device)
        if usage.free < LOW_DISK_BYTES or usage.free < usage.total * LOW_DISK_SHARE:
            warnings.append(
                {
                    "kind": "disk_low",
                    "message": f"{usage.free / 2**30:.2f} GiB free of "
                    f"{usage.total / 2**30:.1f} GiB on the file system of {name} {path}",
                }
            )
    return warnings


async def _warnings(parts: Parts, tally: dict[str, dict[str, int]]) -> list[dict[str, str]]:
    warnings: list[dict[str, str]] = []
    today = datetime.datetime.now(datetime.UTC).date()
    for model, date in sorted(parts.tracker.retiring.items()):
        left = (datetime.date.fromisoformat(date) - today).days
        warnings.append(
            {
                "kind": "base_model_retiring",
                "message": f"{model} stops serving on {date} ({left} days); "
                "datasets and jobs use it",
            }
        )
    warnings.extend(
        {
            "kind": "base_model_not_served",
            "message": f"{model} is in use here but the provider no longer lists it",
        }
        for model in parts.tracker.not_served
    )
    if parts.recorder is not None:
        warnings.extend(unrecorded_warnings(await parts.recorder.still_unrecorded()))
    blocked = tally["datasets"].get(states.BLOCKED, 0)
    if blocked:
        rows = await parts.store.read(
            "SELECT id, error FROM datasets WHERE state = ? ORDER BY updated_at DESC LIMIT 1",
            (states.BLOCKED,),
        )
        why = rows[0]["error"] if rows and rows[0]["error"] else "refused by the provider"
        warnings.append(
            {
                "kind": "provider_blocked",
                "message": f"{blocked} dataset(s) blocked by the provider: {why}",
            }
        )
    waiting = tally["datasets"].get(states.AWAITING_APPROVAL, 0)
    if waiting:
        warnings.append(
            {
                "kind": "awaiting_approval",
                "message": f"{waiting} dataset(s) wait for approval (spend guard): "
                "`ftd datasets --state awaiting_approval`, then `ftd approve ID`",
            }
        )
    for provider in parts.providers.opened():
        warnings.extend(provider.health.warnings())  # what each profile's provider did wrong
    held = parts.pace.state()["held_for_seconds"]
    if held:
        warnings.append(
            {
                "kind": "rate_limited",
                "message": f"the provider asked for a pause; requests resume in {held:.0f} s",
            }
        )
    warnings.extend(
        {
            "kind": "deployment_failed",
            "message": f"deployment {row.name} of {row.model} at {row.provider} failed: "
            f"{row.error}; it is being removed",
        }
        for row in await deployment_rows.live(parts.store)
        if row.error and row.state == deployment_rows.DELETING
    )
    configured = {d.name for d in parts.settings.notify}
    warnings.extend(outbox.warnings(await outbox.health(parts.store), configured))
    settings = parts.settings
    warnings.extend(
        _disk_warnings({"state_dir": settings.paths.state_dir, "drop_dir": settings.paths.drop_dir})
    )
    warnings.extend(readers.warnings())  # reports their producers cannot read
    return warnings


async def status(parts: Parts, call: Call) -> dict[str, Any]:
    settings = parts.settings
    tally = await counts(parts)
    answer: dict[str, Any] = {
        "version": __version__,
        "pid": parts.pid,
        "started_at": parts.started_at,
        "uptime_seconds": round(parts.uptime(), 3),
        "provider": {"kind": settings.provider.kind, "base_url": settings.provider.base_url},
        "paths": {
            "state_dir": str(settings.paths.state_dir),
            "drop_dir": str(settings.paths.drop_dir),
            "socket": str(parts.socket_path),
        },
        **tally,
        "runs": await run_rows.tally(parts.store),
        "rate_limit": parts.pace.state(),
        "tracker": dict(parts.tracker.last_cycle),
        "connections": parts.connections(),
        "warnings": await _warnings(parts, tally),
        "spend": await spend(parts.store, DEFAULT_PROFILE, time.time()),
    }
    if parts.evaluations is not None:
        answer["evaluations"] = await parts.evaluations.counts()
    health = await by_profile(parts)
    answer["profiles"] = {
        name: {"kind": profile.kind, "base_url": profile.base_url, **health.get(name, {})}
        for name, profile in settings.profiles.items()
    }
    now = time.time()
    hosting = await deployment_rows.every(parts.store)
    answer["deployments"] = [row.brief(now) for row in hosting if row.state in deployment_rows.LIVE]
    answer["notifications"] = await outbox.health(parts.store)
    answer["hosting_usd"] = round(sum(row.hosting_usd(now) for row in hosting), 4)
    return answer
