"""``report ID``: the self-contained HTML report of a dataset, a job or an evaluation.

The daemon draws it (it has the data) and sends the page; the client writes
it where the person asked, which the daemon's user may not be able to.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ftd.control.handlers import args as arg
from ftd.control.handlers.show import EVALUATION_PREFIX, find_dataset, find_job
from ftd.control.protocol import NOT_FOUND, UNAVAILABLE
from ftd.control.server import CommandError
from ftd.report.page import render
from ftd.report.views import ReportView
from ftd.store.evaluations import get

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts


async def report(parts: Parts, call: Call) -> dict[str, Any]:
    key = arg.required_text(call.args, "id")
    reports = parts.reports
    if reports is None:
        raise CommandError(UNAVAILABLE, "reports are not available in this daemon")
    store = parts.store
    job = await find_job(store, key)
    number = key.removeprefix(EVALUATION_PREFIX)
    if job is not None:
        view = await reports.view(job_id=job["job_id"])
    elif key.startswith(EVALUATION_PREFIX) and number.isdigit():
        row = await get(store, int(number))
        if row is None:
            raise CommandError(NOT_FOUND, f"no evaluation {key}")
        if row.job_id is not None or row.dataset_id is not None:
            view = await reports.view(job_id=row.job_id, dataset_id=row.dataset_id, evaluation=row)
        else:
            view = ReportView(
                title=f"ftd report: {key} ({row.model})",
                generated_at=time.time(),
                evaluation=await reports.evaluation_view(row),
            )
    else:
        dataset = await find_dataset(store, key)
        if dataset is None:
            raise CommandError(
                NOT_FOUND, f"no dataset, job or evaluation {key!r} (try `ftd datasets`)"
            )
        view = await reports.view(dataset_id=dataset["id"])
    return {"title": view.title, "html": render(view)}
