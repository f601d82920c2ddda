"""What has been spent so far, per provider profile: training, evaluation, hosting; month and all.

Training is each job's charge as recorded when it finished (billed tokens at
the model's price), counted in the month it finished, at the profile the job
lives at; evaluation is each evaluation's usage cost, in the month it started,
at its job's profile (an evaluation asked for by hand of a model ftd did not
make: the default profile), and each recording's at its own; hosting is each
deployment's or endpoint's hours at its hourly rate, the month's share being
the hours it was up this month. A profile without a deployment shows hosting
as None: nothing it serves is billed by the hour.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ftd.store import deployments as deployment_rows

if TYPE_CHECKING:
    from ftd.store import Store


def month_start(now: float) -> float:
    """The first instant of the current UTC month, as a Unix time."""
    today = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return today.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


_TRAINING = (
    "SELECT provider AS profile, "
    "SUM(CASE WHEN COALESCE(finished_at, created_at) >= ? THEN cost_usd END) AS month, "
    "SUM(cost_usd) AS total FROM jobs WHERE cost_usd IS NOT NULL GROUP BY provider"
)
_EVALUATION = (
    "SELECT profile, SUM(CASE WHEN created_at >= ? THEN cost_usd END) AS month, "
    "SUM(cost_usd) AS total FROM ("
    "SELECT COALESCE(j.provider, ?) AS profile, e.created_at, e.cost_usd FROM evaluations e "
    "LEFT JOIN jobs j ON j.job_id = e.job_id "
    "UNION ALL SELECT provider, created_at, cost_usd FROM recordings"  # recordings are asked too
    ") GROUP BY profile"
)


def _pair(month: float, total: float) -> dict[str, float]:
    return {"month": round(month, 6), "all_time": round(total, 6)}


def _nothing() -> dict[str, Any]:
    return {"training": _pair(0, 0), "evaluation": _pair(0, 0), "hosting": None}


async def spend(store: Store, default: str, now: float) -> dict[str, Any]:
    """Spend by profile; ``default`` names the profile an unattached evaluation counts at
    (and the one shown when nothing has been spent anywhere)."""
    since = month_start(now)
    by_profile: dict[str, dict[str, Any]] = defaultdict(_nothing)
    for row in await store.read(_TRAINING, (since,)):
        by_profile[str(row["profile"])]["training"] = _pair(row["month"] or 0, row["total"] or 0)
    for row in await store.read(_EVALUATION, (since, default)):
        by_profile[str(row["profile"])]["evaluation"] = _pair(row["month"] or 0, row["total"] or 0)
    hosted: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for deployment in await deployment_rows.every(store):
        end = deployment.deleted_at if deployment.deleted_at is not None else now
        hours = max(0.0, end - deployment.created_at) / 3600
        this_month = max(0.0, end - max(deployment.created_at, since)) / 3600
        rate = deployment.hourly_usd or 0.0
        hosted[deployment.provider][0] += this_month * rate
        hosted[deployment.provider][1] += hours * rate
    for profile, (month, total) in hosted.items():
        by_profile[profile]["hosting"] = _pair(month, total)
    if not by_profile:
        by_profile[default] = _nothing()
    totals = [0.0, 0.0]
    for figures in by_profile.values():
        for part in figures.values():
            if part is not None:
                totals[0] += part["month"]
                totals[1] += part["all_time"]
    return {
        "month_start": since,
        "by_profile": dict(sorted(by_profile.items())),
        "total": _pair(totals[0], totals[1]),
    }
