"""``datasets``, ``jobs`` and ``models``: one row per thing, filtered, newest first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.control.handlers import args as arg
from ftd.store import states

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts

MAX_ROWS = 100_000

# A job's progress: its furthest step with the losses there, and the steps in all.
LATEST_METRICS = (
    "(SELECT json_object('step', m.step, 'train_loss', m.train_loss, "
    "'valid_loss', m.valid_loss, 'train_accuracy', m.train_accuracy) "
    "FROM job_metrics m WHERE m.job_id = j.job_id ORDER BY m.step DESC LIMIT 1)"
)
TOTAL_STEPS = (
    "(SELECT json_extract(e.data, '$.total_steps') FROM job_events e "
    "WHERE e.job_id = j.job_id AND e.type = 'metrics' LIMIT 1)"
)


def marks(values: list[Any]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")"


def progress(raw: str | None, total_steps: object = None) -> dict[str, Any]:
    """step, total_steps and the losses at the furthest step stored."""
    data = json.loads(raw) if raw else {}
    figures = {k: v for k, v in data.items() if isinstance(v, int | float)}
    if isinstance(total_steps, int) and total_steps > 0:
        figures["total_steps"] = total_steps
    return figures


class Where:
    """The WHERE clause of a list query, its values kept apart as parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


def _window(call: Call, column: str) -> tuple[Where, int]:
    """The filters every list takes: created since, and how many rows."""
    where = Where()
    since = arg.number(call.args, "since", None, low=0, high=1e12)
    if since is not None:
        where.add(f"{column} >= ?", since)
    return where, arg.integer(call.args, "limit", 200, low=1, high=MAX_ROWS)


async def datasets(parts: Parts, call: Call) -> dict[str, Any]:
    where, limit = _window(call, "d.created_at")
    wanted = arg.texts(call.args, "state")
    if wanted:
        where.add(f"d.state IN {marks(wanted)}", *wanted)
    rows = await parts.store.read(
        "SELECT d.id, d.name, d.state, d.size_bytes, d.created_at, d.updated_at, "  # noqa: S608
        "d.estimated_cost_usd, d.error, d.attempts, d.next_attempt_at, d.duplicate_of, "
        "d.run_of, coalesce(d.run_of, d.id) AS dataset_id, "
        "json_extract(d.report, '$.examples') AS examples, "
        "json_extract(d.settings, '$.model') AS model, "
        "j.job_id, j.status AS job_status "
        f"FROM datasets d LEFT JOIN jobs j ON j.dataset_id = d.id {where.sql()} "
        "ORDER BY d.id DESC LIMIT ?",
        [*where.params, limit],
    )
    return {"datasets": rows}


async def jobs(parts: Parts, call: Call) -> dict[str, Any]:
    where, limit = _window(call, "j.created_at")
    wanted = arg.texts(call.args, "status")
    model = arg.text(call.args, "model", required=False)
    if wanted:
        # "active" stands for every status not final, unknown ones included.
        named = [w for w in wanted if w != "active"]
        final = sorted(states.JOB_FINAL)
        either = [f"j.status IN {marks(named)}"] if named else []
        if "active" in wanted:
            either.append(f"j.status NOT IN {marks(final)}")
        where.add("(" + " OR ".join(either) + ")", *named, *(final if "active" in wanted else []))
    if model:
        where.add(
            "(j.model = ? OR j.model LIKE ? OR j.fine_tuned_model LIKE ?)",
            catalog.base_name(model),
            f"{model}%",
            f"%{model}%",
        )
    rows = await parts.store.read(
        "SELECT j.job_id, j.dataset_id, d.name AS dataset, j.status, j.model, "  # noqa: S608
        "CASE WHEN d.id IS NULL THEN NULL ELSE 'run-' || d.id END AS run, j.provider, "
        "j.fine_tuned_model, j.created_at, j.finished_at, j.estimated_finish, "
        "j.trained_tokens, j.cost_usd, j.error_code, j.error_message, j.adopted, j.provider, "
        f"{LATEST_METRICS} AS latest, {TOTAL_STEPS} AS total_steps "
        f"FROM jobs j LEFT JOIN datasets d ON d.id = j.dataset_id {where.sql()} "
        "ORDER BY j.id DESC LIMIT ?",
        [*where.params, limit],
    )
    for row in rows:
        row["progress"] = progress(row.pop("latest"), row.pop("total_steps"))
    return {"jobs": rows}


async def models(parts: Parts, call: Call) -> dict[str, Any]:
    rows = await parts.store.read(
        "SELECT j.fine_tuned_model AS model, j.job_id, j.model AS base_model, "
        "j.dataset_id, d.name AS dataset, j.finished_at, j.model_ready_at, j.model_deleted_at "
        "FROM jobs j LEFT JOIN datasets d ON d.id = j.dataset_id "
        "WHERE j.fine_tuned_model IS NOT NULL ORDER BY j.id DESC"
    )
    verdicts: dict[str, Any] = {}
    if parts.evaluations is not None:
        verdicts = await parts.evaluations.verdicts([r["model"] for r in rows])
    for row in rows:
        entry = catalog.lookup(row["base_model"])
        row["base_shutdown_date"] = entry.shutdown_date if entry else None
        row["evaluation"] = verdicts.get(row["model"])
    return {"models": rows}


async def evaluations(parts: Parts, call: Call) -> dict[str, Any]:
    """Evaluations newest first; those queued or running with their progress."""
    where, limit = _window(call, "created_at")
    wanted = arg.texts(call.args, "status")
    if wanted:
        where.add(f"status IN {marks(wanted)}", *wanted)
    rows = await parts.store.read(
        "SELECT id, kind, job_id, dataset_id, model, base_model, status, verdict, "  # noqa: S608
        "total_items, cost_usd, promoted, error, report_path, created_at, finished_at "
        f"FROM evaluations {where.sql()} ORDER BY id DESC LIMIT ?",
        [*where.params, limit],
    )
    if parts.evaluations is not None:
        live = {e["id"]: e["progress"] for e in await parts.evaluations.running()}
        for row in rows:
            row["progress"] = live.get(row["id"])
    return {"evaluations": rows}
