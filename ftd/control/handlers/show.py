"""``show ID``: everything known of a dataset, a job or an evaluation, in one answer.

An id is resolved in this order: a job id (``ftjob-…``) or a fine-tuned model
name, an evaluation (``eval-N``), a dataset number, a dataset file name (the
newest of that name).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ftd.control.handlers import args as arg
from ftd.control.handlers.lists import LATEST_METRICS, TOTAL_STEPS, progress
from ftd.control.protocol import NOT_FOUND
from ftd.control.server import CommandError
from ftd.runs import parse_run, run_name
from ftd.store import runs as run_rows
from ftd.store.tracking import EVENT_COLUMNS, EVENT_ORDER_DESC

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts
    from ftd.store import Store

EVENTS_TAIL = 20
CURVE_POINTS = 120
EVALUATION_PREFIX = "eval-"


async def _history(store: Store, entity: str, entity_id: int) -> list[dict[str, Any]]:
    rows = await store.read(
        "SELECT from_state, to_state, at, detail FROM transitions "
        "WHERE entity = ? AND entity_id = ? ORDER BY id",
        (entity, entity_id),
    )
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows


def _validation(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The validator's report without its per-line samples: what a person reads first."""
    if not report:
        return None
    stats = report.get("stats") or {}
    return {
        "accepted": report.get("accepted"),
        "model": report.get("model"),
        "method": report.get("method"),
        "lines": report.get("lines"),
        "examples": report.get("examples"),
        "invalid_examples": report.get("invalid_examples"),
        "errors": [
            {"kind": e.get("kind"), "count": e.get("count"), "first": _first(e)}
            for e in report.get("errors", [])
        ],
        "warnings": [
            {"kind": w.get("kind"), "count": w.get("count"), "first": _first(w)}
            for w in report.get("warnings", [])
        ],
        "tokens_per_example": stats.get("tokens_per_example"),
        "token_histogram": stats.get("token_histogram"),
        "estimate": report.get("estimate"),
        "file_estimate": report.get("file_estimate"),
        "token_counts": report.get("token_counts"),
        "evaluation_estimate": report.get("evaluation_estimate"),
        "approval": report.get("approval"),
        "notes": report.get("notes"),
    }


def _first(issue: dict[str, Any]) -> str | None:
    samples = issue.get("samples") or []
    if not samples:
        return None
    sample = samples[0]
    line = sample.get("line")
    return f"line {line}: {sample.get('message')}" if line else str(sample.get("message"))


async def find_dataset(store: Store, key: str) -> dict[str, Any] | None:
    """By number, by run (``run-N``: a run is a dataset row) or by file name, the newest."""
    if parse_run(key) is not None:
        key = str(parse_run(key))
    if key.isdigit():
        rows = await store.read("SELECT * FROM datasets WHERE id = ?", (int(key),))
    else:
        rows = await store.read(
            "SELECT * FROM datasets WHERE name = ? ORDER BY id DESC LIMIT 1", (key,)
        )
    return rows[0] if rows else None


async def find_job(store: Store, key: str) -> dict[str, Any] | None:
    rows = await store.read(
        "SELECT * FROM jobs WHERE job_id = ? OR fine_tuned_model = ? ORDER BY id DESC LIMIT 1",
        (key, key),
    )
    return rows[0] if rows else None


async def dataset_detail(parts: Parts, row: dict[str, Any]) -> dict[str, Any]:
    store = parts.store
    report = json.loads(row.pop("report")) if row.get("report") else None
    settings = json.loads(row.pop("settings")) if row.get("settings") else None
    files = await store.read(
        "SELECT role, path, moving_from FROM dataset_files WHERE dataset_id = ?", (row["id"],)
    )
    splits = await store.read(
        "SELECT side, examples, path FROM splits WHERE dataset_id = ?", (row["id"],)
    )
    uploads = await store.read(
        "SELECT side, filename, file_id FROM uploads WHERE dataset_id = ?", (row["id"],)
    )
    jobs = await store.read("SELECT job_id FROM jobs WHERE dataset_id = ?", (row["id"],))
    answer: dict[str, Any] = {
        "kind": "dataset",
        "dataset": row,
        "validation": _validation(report),
        "settings": settings,
        "files": {f["role"]: f["path"] for f in files},
        "splits": {s["side"]: {"examples": s["examples"], "path": s["path"]} for s in splits},
        "uploads": {
            u["side"]: {"filename": u["filename"], "file_id": u["file_id"]} for u in uploads
        },
        "history": await _history(store, "dataset", row["id"]),
        "run": run_name(row["id"]) if row.get("duplicate_of") is None else None,
        "runs": await run_rows.listing(store, row.get("run_of") or row["id"]),
        "job": await job_detail(parts, (await find_job(store, jobs[0]["job_id"])) or {})
        if jobs
        else None,
    }
    if parts.evaluations is not None:
        answer["evaluations"] = await parts.evaluations.of_dataset(row["id"])
    return answer


def _curve(values: list[float]) -> list[float]:
    """At most CURVE_POINTS values, each the mean of its share of the steps."""
    if len(values) <= CURVE_POINTS:
        return values
    size = len(values) / CURVE_POINTS
    out = []
    for i in range(CURVE_POINTS):
        chunk = values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def _span(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"first": values[0], "last": values[-1], "min": min(values)}


async def _metrics(store: Store, job_id: str) -> dict[str, Any]:
    rows = await store.read(
        "SELECT step, train_loss, valid_loss, full_valid_loss, full_valid_accuracy "
        "FROM job_metrics WHERE job_id = ? ORDER BY step",
        (job_id,),
    )
    train = [r["train_loss"] for r in rows if r["train_loss"] is not None]
    valid = [r["valid_loss"] for r in rows if r["valid_loss"] is not None]
    return {
        "steps": len(rows),
        "last_step": rows[-1]["step"] if rows else None,
        "train_loss": _span(train),
        "valid_loss": _span(valid),
        "full_valid": [
            {
                "step": r["step"],
                "loss": r["full_valid_loss"],
                "accuracy": r["full_valid_accuracy"],
            }
            for r in rows
            if r["full_valid_loss"] is not None
        ],
        "loss_curve": _curve(train),
    }


async def job_detail(parts: Parts, row: dict[str, Any]) -> dict[str, Any]:
    if not row:
        return {}
    store = parts.store
    job_id = row["job_id"]
    for key in ("metadata", "result_files"):
        row[key] = json.loads(row[key]) if row.get(key) else None
    dataset = None
    if row.get("dataset_id") is not None:
        found = await store.read(
            "SELECT id, name, state, run_of FROM datasets WHERE id = ?", (row["dataset_id"],)
        )
        dataset = found[0] if found else None
        if dataset is not None:
            dataset["run"] = run_name(dataset["id"])
    events = await store.read(
        "SELECT created_at, level, type, message FROM job_events WHERE job_id = ? "  # noqa: S608
        f"ORDER BY {EVENT_ORDER_DESC} LIMIT ?",
        (job_id, EVENTS_TAIL),
    )
    count = await store.read("SELECT count(*) AS n FROM job_events WHERE job_id = ?", (job_id,))
    latest = await store.read(
        f"SELECT {LATEST_METRICS} AS latest, {TOTAL_STEPS} AS total_steps "  # noqa: S608
        "FROM jobs j WHERE j.job_id = ?",
        (job_id,),
    )
    checkpoints = await store.read(
        "SELECT step, model, metrics, created_at FROM job_checkpoints WHERE job_id = ? "
        "ORDER BY step",
        (job_id,),
    )
    for checkpoint in checkpoints:
        checkpoint["metrics"] = json.loads(checkpoint["metrics"]) if checkpoint["metrics"] else None
    answer: dict[str, Any] = {
        "kind": "job",
        "job": row,
        "dataset": dataset,
        "progress": progress(latest[0]["latest"], latest[0]["total_steps"]) if latest else {},
        "history": await _history(store, "job", row["id"]),
        "events_total": count[0]["n"],
        "events_tail": list(reversed(events)),
        "metrics": await _metrics(store, job_id),
        "checkpoints": checkpoints,
    }
    if parts.evaluations is not None:
        answer["evaluations"] = await parts.evaluations.of_job(job_id)
    return answer


async def show(parts: Parts, call: Call) -> dict[str, Any]:
    key = arg.required_text(call.args, "id")
    store = parts.store
    job = await find_job(store, key)
    if job is not None:
        return await job_detail(parts, job)
    if key.startswith(EVALUATION_PREFIX) and parts.evaluations is not None:
        number = key.removeprefix(EVALUATION_PREFIX)
        if number.isdigit():
            found = await parts.evaluations.detail(int(number))
            if found is not None:
                return {"kind": "evaluation", **found}
    dataset = await find_dataset(store, key)
    if dataset is not None:
        return await dataset_detail(parts, dataset)
    raise CommandError(
        NOT_FOUND,
        f"no dataset, job or evaluation {key!r} (try `ftd datasets` or `ftd jobs`)",
    )


async def events(parts: Parts, call: Call) -> dict[str, Any]:
    """The newest events of a job, oldest first (``ftd events JOB``)."""
    key = arg.required_text(call.args, "job")
    limit = arg.integer(call.args, "limit", 50, low=1, high=100_000)
    job = await find_job(parts.store, key)
    if job is None:
        raise CommandError(NOT_FOUND, f"no job {key!r} followed here (see `ftd jobs`)")
    rows = await parts.store.read(
        f"SELECT {EVENT_COLUMNS} FROM job_events "  # noqa: S608
        f"WHERE job_id = ? ORDER BY {EVENT_ORDER_DESC} LIMIT ?",
        (job["job_id"], limit),
    )
    for row in rows:
        row["data"] = json.loads(row["data"]) if row["data"] else None
    return {"job_id": job["job_id"], "status": job["status"], "events": list(reversed(rows))}
