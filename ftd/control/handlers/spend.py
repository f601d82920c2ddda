"""What has been spent so far, per provider profile: training, evaluation, hosting; month and all.

Training is each job's charge as recorded when it finished (billed tokens at
the model's price), counted in the month it finished; evaluation is each
evaluation's (and each recording's) usage cost, in the month it started. Today there is one
provider profile, named by ``provider.kind``. Hosting (deployed fine-tuned
models billed by the hour) is a slot left at None until a provider reports it.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftd.store import Store


def month_start(now: float) -> float:
    """The first instant of the current UTC month, as a Unix time."""
    today = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return today.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


async def _sums(store: Store, sql: str, since: float) -> tuple[float, float]:
    rows = await store.read(sql, (since,))
    row = rows[0] if rows else {}
    return round(float(row.get("month") or 0.0), 6), round(float(row.get("total") or 0.0), 6)


async def spend(store: Store, profile: str, now: float) -> dict[str, Any]:
    since = month_start(now)
    training = await _sums(
        store,
        "SELECT SUM(CASE WHEN COALESCE(finished_at, created_at) >= ? THEN cost_usd END) "
        "AS month, SUM(cost_usd) AS total FROM jobs WHERE cost_usd IS NOT NULL",
        since,
    )
    evaluation = await _sums(
        store,
        "SELECT SUM(CASE WHEN created_at >= ? THEN cost_usd END) AS month, "
        "SUM(cost_usd) AS total FROM (SELECT created_at, cost_usd FROM evaluations "
        "UNION ALL SELECT created_at, cost_usd FROM recordings)",  # recordings are asked too
        since,
    )
    figures = {
        "training": {"month": training[0], "all_time": training[1]},
        "evaluation": {"month": evaluation[0], "all_time": evaluation[1]},
        "hosting": None,  # filled in by providers that bill deployments by the hour
    }
    return {
        "month_start": since,
        "by_profile": {profile: figures},
        "total": {
            "month": round(training[0] + evaluation[0], 6),
            "all_time": round(training[1] + evaluation[1], 6),
        },
    }
