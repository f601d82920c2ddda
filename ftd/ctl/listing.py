"""Lists from the running daemon: datasets, jobs, and the fine-tuned models ftd made."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ftd.ctl import common, render
from ftd.datasets.report import human_size
from ftd.store.states import (
    AWAITING_APPROVAL,
    BLOCKED,
    CREATING_JOB,
    DETECTED,
    DUPLICATE,
    FAILED,
    JOB_FINAL,
    MISSING,
    READY,
    REJECTED,
    SUBMITTED,
    UPLOADING,
    VALIDATING,
)

if TYPE_CHECKING:
    import argparse

HELP = {
    "datasets": "list datasets with their state, size, cost estimate and job",
    "jobs": "list fine-tuning jobs with their status, progress and cost",
    "models": "list the fine-tuned models ftd made, with verdicts and base shutdown dates",
    "evaluations": "list evaluations with their progress, verdict and cost",
}
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since(text: str) -> float:
    """``2h``, ``3d``, ``90m`` ago, or an ISO date/time, as a Unix time."""
    match = _SPAN.match(text.strip())
    if match:
        return time.time() - float(match.group(1)) * _UNIT[match.group(2)]
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return time.mktime(time.strptime(text.strip(), fmt))
        except ValueError:
            continue
    raise ValueError(f"{text!r} is neither a span such as 2h or 3d nor a date such as 2026-11-29")


def _since_arg(text: str) -> float:
    import argparse

    try:
        return since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# The values each filter knows; anything else is a usage error, not an empty list.
DATASET_STATES = (
    DETECTED,
    VALIDATING,
    DUPLICATE,
    REJECTED,
    AWAITING_APPROVAL,
    READY,
    UPLOADING,
    CREATING_JOB,
    SUBMITTED,
    BLOCKED,
    FAILED,
    MISSING,
)
# OpenAI's statuses, the ones Azure adds (pending, pausing, resuming), and "active".
JOB_STATUSES = (
    "validating_files",
    "queued",
    "pending",
    "running",
    "pausing",
    "paused",
    "resuming",
    "succeeded",
    "failed",
    "cancelled",
    "active",
)
EVALUATION_STATUSES = ("queued", "running", "succeeded", "stopped", "failed")
_FILTER_VALUES = {
    "datasets": DATASET_STATES,
    "jobs": JOB_STATUSES,
    "evaluations": EVALUATION_STATUSES,
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    common.add_client_options(parser)
    if name == "models":
        return
    noun = "state" if name == "datasets" else "status"
    parser.add_argument(
        f"--{noun}",
        action="append",
        choices=_FILTER_VALUES[name],
        metavar=noun.upper(),
        help=f"only this {noun} (repeatable)"
        + ("; 'active' means not yet finished" if name == "jobs" else ""),
    )
    if name == "jobs":
        parser.add_argument("--model", help="only jobs of this base or fine-tuned model")
    parser.add_argument(
        "--since", type=_since_arg, metavar="WHEN", help="created since: 2h, 3d, or a date"
    )
    parser.add_argument("--limit", type=int, default=200, metavar="N", help="at most N rows")


def _run(d: dict[str, Any]) -> str | None:
    """The row as a run: ``run-5 of 3`` for a later run of dataset 3; none for a copy."""
    if d.get("duplicate_of") is not None:
        return None
    run_of = d.get("run_of")
    return f"run-{d['id']}" + (f" of {run_of}" if run_of is not None else "")


def _datasets(answer: dict[str, Any]) -> None:
    rows = [
        (
            d["id"],
            d["name"],
            d["state"],
            _run(d),
            d["examples"],
            human_size(d["size_bytes"]),
            render.money(d["estimated_cost_usd"]),
            f"{d['job_id']} ({d['job_status']})" if d["job_id"] else None,
            render.ago(d["updated_at"]),
        )
        for d in answer["datasets"]
    ]
    if not rows:
        print("no datasets")
        return
    headers = ("ID", "NAME", "STATE", "RUN", "EXAMPLES", "SIZE", "EST. COST", "JOB", "UPDATED")
    print(render.table(rows, headers))


def _jobs(answer: dict[str, Any]) -> None:
    rows = [
        (
            j["job_id"],
            j.get("run"),
            j["dataset"],
            j.get("provider"),
            j["status"],
            j["fine_tuned_model"] or j["model"],
            render.progress(j["progress"]),
            render.number(j["progress"].get("train_loss")),
            render.eta(j["estimated_finish"], finished=j["status"] in JOB_FINAL),
            render.money(j["cost_usd"]),
            render.ago(j["created_at"]),
        )
        for j in answer["jobs"]
    ]
    if not rows:
        print("no jobs")
        return
    headers = (
        "JOB",
        "RUN",
        "DATASET",
        "PROVIDER",
        "STATUS",
        "MODEL",
        "STEP",
        "LOSS",
        "ETA",
        "COST",
        "CREATED",
    )
    print(render.table(rows, headers))


def _verdict(evaluation: dict[str, Any] | None) -> str | None:
    if not evaluation:
        return None
    verdict = str(evaluation.get("verdict") or evaluation.get("state") or "")
    return verdict + (" (promoted)" if evaluation.get("promoted") else "")


def _models(answer: dict[str, Any]) -> None:
    rows = [
        (
            m["model"],
            m["job_id"],
            m["base_model"],
            m["dataset"],
            "deleted" if m["model_deleted_at"] else "ready" if m["model_ready_at"] else "not yet",
            _verdict(m.get("evaluation")),
            m["base_shutdown_date"],
        )
        for m in answer["models"]
    ]
    if not rows:
        print("no fine-tuned models yet")
        return
    headers = ("MODEL", "JOB", "BASE", "DATASET", "ANSWERS", "VERDICT", "BASE SHUTDOWN")
    print(render.table(rows, headers))


def _evaluations(answer: dict[str, Any]) -> None:
    rows = []
    for e in answer["evaluations"]:
        done = e.get("progress")
        items = f"{done['done']}/{done['total'] or '?'}" if done else e["total_items"]
        rows.append(
            (
                f"eval-{e['id']}",
                e["kind"],
                e["model"],
                e["base_model"],
                e["status"],
                items,
                e["verdict"],
                render.money(e["cost_usd"]),
                render.ago(e["created_at"]),
            )
        )
    if not rows:
        print("no evaluations")
        return
    headers = ("ID", "KIND", "MODEL", "BASE", "STATUS", "ITEMS", "VERDICT", "COST", "CREATED")
    print(render.table(rows, headers))


def run(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {}
    if args.command != "models":
        request["limit"] = args.limit
        if args.since is not None:
            request["since"] = args.since
    if args.command == "datasets":
        if args.state:
            request["state"] = args.state
        return common.call(args, "datasets", request, _datasets)
    if args.command == "jobs":
        if args.status:
            request["status"] = args.status
        if args.model:
            request["model"] = args.model
        return common.call(args, "jobs", request, _jobs)
    if args.command == "evaluations":
        if args.status:
            request["status"] = args.status
        return common.call(args, "evaluations", request, _evaluations)
    return common.call(args, "models", request, _models)
