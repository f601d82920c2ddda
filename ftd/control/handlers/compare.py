"""``compare RUN_A RUN_B …``: runs of one dataset side by side.

For each run: its settings (and where they differ from the first run's), its
cost (estimated and charged), its training curve, and its evaluation's
scores with their intervals. For every two runs whose evaluations answered
the same test items: a paired verdict per grader (``across_runs``). With
``html`` the answer carries the report page as well.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import TYPE_CHECKING, Any

from ftd.control.handlers import args as arg
from ftd.control.handlers.runs import find_run
from ftd.control.protocol import INVALID_ARGUMENT
from ftd.control.server import CommandError
from ftd.evaluation.across_runs import paired_runs
from ftd.report.compare_page import render_comparison
from ftd.runs import run_name, settings_difference

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts
    from ftd.store import DatasetRow

MAX_RUNS = 8
CURVE_POINTS = 200


async def _job(parts: Parts, run_id: int) -> dict[str, Any] | None:
    rows = await parts.store.read(
        "SELECT job_id, status, provider, model, fine_tuned_model, trained_tokens, cost_usd, "
        "created_at, finished_at FROM jobs WHERE dataset_id = ?",
        (run_id,),
    )
    return rows[0] if rows else None


async def _curve(parts: Parts, job_id: str) -> list[list[float]]:
    rows = await parts.store.read(
        "SELECT step, train_loss FROM job_metrics WHERE job_id = ? AND train_loss IS NOT NULL "
        "ORDER BY step",
        (job_id,),
    )
    stride = max(1, len(rows) // CURVE_POINTS)
    return [[r["step"], r["train_loss"]] for r in rows[::stride]]


async def _evaluation(parts: Parts, job_id: str) -> dict[str, Any] | None:
    rows = await parts.store.read(
        "SELECT id, status, model, base_model, verdict, summary, cost_usd FROM evaluations "
        "WHERE job_id = ? AND kind = 'job' ORDER BY id DESC LIMIT 1",
        (job_id,),
    )
    if not rows:
        return None
    row = rows[0]
    summary = json.loads(row.pop("summary")) if row.get("summary") else {}
    row["evaluation"] = f"eval-{row.pop('id')}"
    row["primary_grader"] = summary.get("primary_grader")
    row["scores"] = {
        name: {"kind": g.get("kind"), "mean": g.get("candidate"), "vs_base": g.get("verdict")}
        for name, g in (summary.get("graders") or {}).items()
    }
    return row


async def _items(parts: Parts, evaluation: str) -> list[dict[str, Any]]:
    return await parts.store.read(
        "SELECT item, role, line, prompt_sha256, scores, error FROM evaluation_items "
        "WHERE evaluation_id = ? AND role = 'candidate' ORDER BY item",
        (int(evaluation.removeprefix("eval-")),),
    )


async def _run(parts: Parts, row: DatasetRow) -> dict[str, Any]:
    job = await _job(parts, row.id)
    evaluation = await _evaluation(parts, job["job_id"]) if job else None
    return {
        "run": run_name(row.id),
        "run_id": row.id,
        "dataset_id": row.root_id,
        "name": row.name,
        "state": row.state,
        "settings": row.settings or {},
        "estimated_cost_usd": row.estimated_cost_usd,
        "job": job,
        "curve": await _curve(parts, job["job_id"]) if job else [],
        "evaluation": evaluation,
    }


async def compare(parts: Parts, call: Call) -> dict[str, Any]:
    keys = arg.texts(call.args, "runs") or []
    if not 2 <= len(keys) <= MAX_RUNS:
        raise CommandError(INVALID_ARGUMENT, f"compare takes 2 to {MAX_RUNS} runs, not {len(keys)}")
    rows = [await find_run(parts, key) for key in keys]
    if len({row.id for row in rows}) < len(rows):
        raise CommandError(INVALID_ARGUMENT, "a run is named twice")
    datasets = {row.root_id for row in rows}
    if len(datasets) > 1:
        named = ", ".join(f"{run_name(r.id)} of dataset {r.root_id}" for r in rows)
        raise CommandError(
            INVALID_ARGUMENT,
            f"runs of one dataset only (on the same test items): {named}",
        )
    runs = [await _run(parts, row) for row in rows]
    for run in runs[1:]:
        run["differs"] = {
            key: {"first": a, "this": b}
            for key, (a, b) in settings_difference(runs[0]["settings"], run["settings"]).items()
        }
    items = {
        run["run"]: await _items(parts, run["evaluation"]["evaluation"])
        for run in runs
        if run["evaluation"] is not None
    }
    pairs = []
    for first, second in itertools.combinations(runs, 2):
        if first["run"] not in items or second["run"] not in items:
            pairs.append(
                {
                    "first": first["run"],
                    "second": second["run"],
                    "items": 0,
                    "graders": {},
                    "missing": "an evaluation is missing",
                }
            )
            continue
        found = paired_runs(items[first["run"]], items[second["run"]], parts.settings.evaluation)
        pairs.append({"first": first["run"], "second": second["run"], **found})
    answer: dict[str, Any] = {
        "dataset_id": rows[0].root_id,
        "name": rows[0].name,
        "generated_at": time.time(),
        "confidence": parts.settings.evaluation.confidence,
        "runs": runs,
        "pairs": pairs,
    }
    if call.args.get("html"):
        answer["html"] = render_comparison(answer)
    return answer
