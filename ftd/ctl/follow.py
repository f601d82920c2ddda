"""Live views: a job's events (``--follow`` waits for new ones) and ``watch`` of all running work.

``watch`` redraws in place on a terminal; piped, it prints a block of lines
each time something changed, so it can be logged or grepped.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from ftd.control.client import ClientError
from ftd.ctl import batch_view, common, render

if TYPE_CHECKING:
    import argparse

HELP = {
    "events": "print a job's events; --follow waits for new ones until the job ends",
    "watch": "a live view of running jobs (progress, loss, ETA) and evaluations",
}
CLEAR = "\x1b[H\x1b[2J"


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    common.add_client_options(parser)
    if name == "events":
        parser.add_argument("job", help="job id (ftjob-...) or fine-tuned model name")
        parser.add_argument("-f", "--follow", action="store_true", help="wait for new events")
        parser.add_argument(
            "-n", "--limit", type=int, default=50, metavar="N", help="the last N events first"
        )
    else:
        parser.add_argument(
            "--interval", type=float, default=1.0, metavar="S", help="seconds between updates"
        )


def _event_line(event: dict[str, Any]) -> str:
    return (
        f"{render.stamp(event['created_at'])}  {event['level']:<5} {render.clean(event['message'])}"
    )


def _print_events(answer: dict[str, Any], as_json: bool) -> None:
    for event in answer["events"]:
        print(_json_line(event) if as_json else _event_line(event))
    sys.stdout.flush()


def _json_line(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _events(args: argparse.Namespace) -> int:
    request = {"job": args.job, "limit": args.limit}
    try:
        with common.connect(args) as client:
            if not args.follow:
                answer = client.call("events", request)
                _print_events(answer, args.json)
                return common.EXIT_OK
            for answer in client.stream("follow", request):
                _print_events(answer, args.json)
                if answer.get("finished") and not args.json:
                    print(f"-- job {answer['job_id']} {answer['status']}")
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    return common.EXIT_OK


def _eta(when: float | None, now: float | None) -> str | None:
    """Relative on a terminal that redraws; a clock time in a log, which must not change."""
    if not when:
        return None
    return (
        render.eta(when, finished=False, now=now)
        if now is not None
        else time.strftime("%H:%M:%S", time.localtime(when))
    )


def snapshot_lines(view: dict[str, Any], now: float | None = None) -> list[str]:
    lines = [f"ftd watch  {render.stamp(view['at'])}"]
    jobs = view.get("jobs") or []
    if jobs:
        rows = []
        for job in jobs:
            figures = job.get("progress") or {}
            step, total = figures.get("step"), figures.get("total_steps")
            rows.append(
                (
                    job["job_id"],
                    job["dataset"],
                    job["status"],
                    (render.bar(step, total, 12) + " " if step and total else "")
                    + render.progress(figures),
                    render.number(figures.get("train_loss")),
                    _eta(job["estimated_finish"], now),
                )
            )
        lines.append(render.table(rows, ("JOB", "DATASET", "STATUS", "PROGRESS", "LOSS", "ETA")))
    else:
        lines.append("no job running")
    evaluations = view.get("evaluations") or []
    if evaluations:
        pool = []
        for e in evaluations:
            progress = e.get("progress") or {}
            done, total = progress.get("done", 0), progress.get("total") or 0
            pool.append(
                (
                    f"eval-{e['id']}",
                    e.get("model"),
                    e.get("status"),
                    render.bar(done, total, 12) + f" {done}/{total}",
                    progress.get("errors", 0),
                )
            )
        lines.append(render.table(pool, ("EVALUATION", "MODEL", "STATUS", "ITEMS", "ERRORS")))
        lines.extend(
            f"  eval-{e['id']} {note}" for e in evaluations if (note := batch_view.watch_suffix(e))
        )
    datasets = view.get("datasets") or []
    if datasets:
        lines.append(
            "datasets on their way: "
            + ", ".join(f"{d['id']} {render.clean(d['name'])} ({d['state']})" for d in datasets)
        )
    return lines


def _watch(args: argparse.Namespace) -> int:
    terminal = sys.stdout.isatty() and not args.json
    last: list[str] | None = None
    try:
        with common.connect(args) as client:
            for view in client.stream("watch", {"interval": args.interval}):
                if args.json:
                    print(_json_line(view), flush=True)
                    continue
                lines = snapshot_lines(view, time.time() if terminal else None)
                if terminal:
                    sys.stdout.write(CLEAR + "\n".join(lines) + "\n")
                    sys.stdout.flush()
                elif lines[1:] != (last or [])[1:]:
                    print("\n".join(lines), flush=True)
                last = lines
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    return common.EXIT_OK


def run(args: argparse.Namespace) -> int:
    return _events(args) if args.command == "events" else _watch(args)
