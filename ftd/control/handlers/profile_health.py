"""Each provider profile's share of ``ftd status``: its jobs and the refusal that lasts.

With several profiles, one failing (a revoked key, a closed account) must be
visible as that profile's own trouble while the others' jobs carry on; the
newest dataset that failed or was blocked there, and why, says it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ftd.profiles import DEFAULT_PROFILE
from ftd.store import states

if TYPE_CHECKING:
    from ftd.daemon.parts import Parts

_PROFILE = f"coalesce(json_extract(settings, '$.provider'), '{DEFAULT_PROFILE}')"


async def by_profile(parts: Parts) -> dict[str, dict[str, Any]]:
    """profile -> {"jobs": {status: n}, "last_error": {...} or None}, for every profile."""
    store = parts.store
    answer: dict[str, dict[str, Any]] = {
        name: {"jobs": {}, "last_error": None} for name in parts.settings.profiles
    }
    for row in await store.read(
        "SELECT provider, status, count(*) AS n FROM jobs GROUP BY provider, status"
    ):
        answer.setdefault(row["provider"], {"jobs": {}, "last_error": None})
        answer[row["provider"]]["jobs"][row["status"]] = row["n"]
    rows = await store.read(
        f"SELECT {_PROFILE} AS profile, name, state, error, max(updated_at) AS at "  # noqa: S608
        "FROM datasets WHERE state IN (?, ?) AND error IS NOT NULL GROUP BY profile",
        (states.FAILED, states.BLOCKED),
    )
    now = time.time()
    for row in rows:
        entry = answer.setdefault(row["profile"], {"jobs": {}, "last_error": None})
        entry["last_error"] = {
            "dataset": row["name"],
            "state": row["state"],
            "error": row["error"],
            "age_seconds": round(max(0.0, now - row["at"]), 1),
        }
    return answer
