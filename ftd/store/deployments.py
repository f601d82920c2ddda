"""Deployments as state: each model ftd serves under a name, from intent to teardown.

A row is written (``intended``) before the provider is asked to deploy, so a
crash at any moment leaves a row naming what may exist at the provider; the
deployer then finishes or tears down whatever a row says was under way.
States: intended -> creating -> ready -> deleting -> deleted, or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd.store import evaluations as evaluation_rows
from ftd.store import states

if TYPE_CHECKING:
    from ftd.store import Store

INTENDED = "intended"
CREATING = "creating"
READY = "ready"
DELETING = "deleting"
DELETED = "deleted"
FAILED = "failed"
LIVE = (INTENDED, CREATING, READY, DELETING)
CANDIDATE = "candidate"
BASE = "base"


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    id: int
    provider: str
    name: str
    model: str
    job_id: str | None
    role: str
    state: str
    keep: bool
    hourly_usd: float | None
    error: str | None
    created_at: float
    updated_at: float
    ready_at: float | None
    deleted_at: float | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> DeploymentRow:
        return cls(**{**row, "keep": bool(row["keep"])})

    def hosting_usd(self, now: float) -> float:
        """What this deployment has cost so far at its hourly rate."""
        end = self.deleted_at if self.deleted_at is not None else now
        return round(max(0.0, end - self.created_at) / 3600 * (self.hourly_usd or 0.0), 4)

    def brief(self, now: float) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "model": self.model,
            "job_id": self.job_id,
            "role": self.role,
            "state": self.state,
            "keep": self.keep,
            "age_seconds": round(now - self.created_at, 1),
            "hourly_usd": self.hourly_usd,
            "hosting_usd": self.hosting_usd(now),
            "error": self.error,
        }


async def _select(store: Store, where: str, params: tuple[Any, ...] = ()) -> list[DeploymentRow]:
    rows = await store.read(f"SELECT * FROM deployments {where}", params)  # noqa: S608
    return [DeploymentRow.of(r) for r in rows]


async def live(store: Store) -> list[DeploymentRow]:
    """Every deployment that exists or may exist at its provider."""
    marks = ", ".join("?" * len(LIVE))
    return await _select(store, f"WHERE state IN ({marks}) ORDER BY id", LIVE)


async def every(store: Store) -> list[DeploymentRow]:
    return await _select(store, "ORDER BY id")


async def of_job(store: Store, job_id: str) -> list[DeploymentRow]:
    return await _select(store, "WHERE job_id = ? ORDER BY id", (job_id,))


async def named(store: Store, provider: str, name: str) -> DeploymentRow | None:
    found = await _select(store, "WHERE provider = ? AND name = ?", (provider, name))
    return found[0] if found else None


async def intend(
    store: Store,
    *,
    provider: str,
    name: str,
    model: str,
    role: str,
    job_id: str | None,
    keep: bool,
    hourly_usd: float,
) -> bool:
    """Record the intent to deploy; False if a live row of that name exists already.

    A deleted or failed row of the same name is taken up again (the base model's
    deployment, made anew for a later evaluation).
    """
    async with store.transaction() as tx:
        existing = await tx.one(
            "SELECT id, state FROM deployments WHERE provider = ? AND name = ?", (provider, name)
        )
        if existing is not None and existing["state"] in LIVE:
            return False
        if existing is None:
            cursor = await tx.execute(
                "INSERT INTO deployments (provider, name, model, job_id, role, state, keep, "
                "hourly_usd, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    provider,
                    name,
                    model,
                    job_id,
                    role,
                    INTENDED,
                    int(keep),
                    hourly_usd,
                    tx.now,
                    tx.now,
                ),
            )
            assert cursor.lastrowid is not None
            row_id, old = cursor.lastrowid, None
        else:
            row_id, old = int(existing["id"]), str(existing["state"])
            await tx.execute(
                "UPDATE deployments SET state = ?, model = ?, job_id = ?, keep = ?, "
                "hourly_usd = ?, error = NULL, created_at = ?, updated_at = ?, ready_at = NULL, "
                "deleted_at = NULL WHERE id = ?",
                (INTENDED, model, job_id, int(keep), hourly_usd, tx.now, tx.now, row_id),
            )
        await tx.log_change("deployment", row_id, old, INTENDED, {"name": name, "model": model})
    return True


async def move(store: Store, row: DeploymentRow, new: str, *, error: str | None = None) -> bool:
    """Compare-and-set from the row's state; False if it changed meanwhile."""
    async with store.transaction() as tx:
        stamps = {READY: ", ready_at = ?", DELETED: ", deleted_at = ?"}.get(new, "")
        values: list[Any] = [new, error, tx.now]
        if stamps:
            values.append(tx.now)
        cursor = await tx.execute(
            f"UPDATE deployments SET state = ?, error = ?, updated_at = ?{stamps} "  # noqa: S608
            "WHERE id = ? AND state = ?",
            (*values, row.id, row.state),
        )
        if cursor.rowcount != 1:
            return False
        await tx.log_change(
            "deployment", row.id, row.state, new, {"error": error} if error else None
        )
    return True


async def set_keep(store: Store, model: str, keep: bool) -> list[DeploymentRow]:
    """Mark the live deployments of a model kept (or not); those changed."""
    marks = ", ".join("?" * len(LIVE))
    async with store.transaction() as tx:
        await tx.execute(
            f"UPDATE deployments SET keep = ?, updated_at = ? "  # noqa: S608
            f"WHERE model = ? AND state IN ({marks})",
            (int(keep), tx.now, model, *LIVE),
        )
    return [r for r in await live(store) if r.model == model]


async def wanting_deployment(store: Store, profiles: list[str]) -> list[dict[str, Any]]:
    """Succeeded jobs at these profiles whose model answers, that will be evaluated
    (a test split) and have no deployment yet; oldest first."""
    if not profiles:
        return []
    marks = ", ".join("?" * len(profiles))
    return await store.read(
        "SELECT j.job_id, j.provider, j.model AS base_model, j.fine_tuned_model AS model, "  # noqa: S608
        "j.dataset_id, d.sha256, d.tag, d.settings FROM jobs j "
        "JOIN datasets d ON d.id = j.dataset_id "
        "JOIN splits s ON s.dataset_id = j.dataset_id AND s.side = 'test' AND s.examples > 0 "
        f"WHERE j.status = ? AND j.provider IN ({marks}) "
        "AND j.model_ready_at IS NOT NULL AND j.fine_tuned_model IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM deployments x WHERE x.job_id = j.job_id) "
        "AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.job_id = j.job_id "
        "AND e.model = j.fine_tuned_model) ORDER BY j.id",
        (states.JOB_SUCCEEDED, *profiles),
    )


async def checkpoints_wanting_deployment(store: Store, profiles: list[str]) -> list[dict[str, Any]]:
    """Checkpoint evaluations not yet ended at these profiles whose model has no deployment."""
    if not profiles:
        return []
    marks = ", ".join("?" * len(profiles))
    return await store.read(
        "SELECT e.job_id, j.provider, e.model, d.sha256, d.tag, c.step FROM evaluations e "  # noqa: S608
        "JOIN jobs j ON j.job_id = e.job_id JOIN datasets d ON d.id = j.dataset_id "
        "JOIN job_checkpoints c ON c.job_id = e.job_id AND c.model = e.model "
        f"WHERE e.kind = 'checkpoint' AND e.status IN ('queued', 'running') "
        f"AND j.provider IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM deployments x WHERE x.provider = j.provider "
        "AND x.model = e.model AND x.state IN ('intended', 'creating', 'ready', 'deleting')) "
        "ORDER BY e.id",
        profiles,
    )


async def bases_still_wanted(store: Store, profiles: list[str]) -> list[tuple[str, str]]:
    """(profile, base model) of every live candidate whose evaluation has not ended."""
    if not profiles:
        return []
    marks = ", ".join("?" * len(profiles))
    live = ", ".join("?" * len(LIVE))
    rows = await store.read(
        "SELECT DISTINCT x.provider, j.model FROM deployments x "  # noqa: S608
        "JOIN jobs j ON j.job_id = x.job_id "
        f"WHERE x.role = ? AND x.state IN ({live}) AND x.provider IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.job_id = j.job_id "
        "AND e.model = x.model AND e.status IN ('succeeded', 'stopped', 'failed'))",
        (CANDIDATE, *LIVE, *profiles),
    )
    return [(str(r["provider"]), str(r["model"])) for r in rows]


async def evaluation_finished(store: Store, job_id: str, model: str) -> bool:
    """Whether the job's evaluation of ``model`` has ended (or was never to be)."""
    rows = await store.read(
        "SELECT status FROM evaluations WHERE job_id = ? AND model = ?", (job_id, model)
    )
    return bool(rows) and all(r["status"] in evaluation_rows.FINAL for r in rows)


async def shared_still_needed(store: Store, provider: str) -> bool:
    """Whether a live candidate at this profile still waits for its evaluation to end.

    Shared deployments (base models, the judge) serve every evaluation at their
    profile; they go once no candidate there needs them.
    """
    marks = ", ".join("?" * len(LIVE))
    rows = await store.read(
        "SELECT 1 FROM deployments x JOIN jobs j ON j.job_id = x.job_id "  # noqa: S608
        f"WHERE x.provider = ? AND x.role = ? AND x.state IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.job_id = j.job_id "
        "AND e.model = x.model AND e.status IN ('succeeded', 'stopped', 'failed')) "
        "LIMIT 1",
        (provider, CANDIDATE, *LIVE),
    )
    return bool(rows)
