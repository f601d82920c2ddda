"""The HTML report of a dataset, written when its job's evaluation finishes, and on request.

The report goes beside the dataset in the drop folder
(``processed/NAME.report.html``), where the person who dropped the file
looks; a job without a dataset in the drop folder gets its report under
``<state_dir>/reports/``. The path is kept on the evaluation's row, and a
report that a crash kept from being written is written at the next start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ftd.daemon.nofollow import write_new
from ftd.daemon.readers import note_unshared
from ftd.logs import get_logger
from ftd.report.gather import report_view
from ftd.report.page import render
from ftd.report.views import EvaluationView
from ftd.store.evaluations import FINAL, KIND_JOB, EvaluationRow, get

if TYPE_CHECKING:
    from ftd.evaluation.service import EvaluationService
    from ftd.report.views import ReportView
    from ftd.store import Store

log = get_logger("ftd.daemon.reports")
REPORT_SUFFIX = ".report.html"
DIFFERENCES_SHOWN = 10


def _write(path: Path, html: str, reader_uid: int | None = None) -> None:
    """Atomically: a reader sees the old report or the whole new one.

    Created under a fresh name with O_EXCL in a folder opened without
    following a link, readable by ftd and the dropper (``reader_uid``) alone;
    it replaces only a report ftd wrote itself (nofollow.py)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        shared = write_new(fd, path.name, html.encode("utf-8"), reader_uid=reader_uid)
    finally:
        os.close(fd)
    if not shared:
        note_unshared(path.parent)


class Reports:
    def __init__(self, store: Store, evaluations: EvaluationService, state_dir: Path) -> None:
        self._store = store
        self._evaluations = evaluations
        self._fallback = state_dir / "reports"

    async def evaluation_view(self, row: EvaluationRow) -> EvaluationView | None:
        summary = await self._evaluations.summary(row.id)
        if not summary or "graders" not in summary:
            return None
        differences = await self._evaluations.differences(row.id, limit=DIFFERENCES_SHOWN)
        return EvaluationView.from_summary(summary, differences)

    async def view(
        self,
        *,
        dataset_id: int | None = None,
        job_id: str | None = None,
        evaluation: EvaluationRow | None = None,
    ) -> ReportView:
        """A dataset's or a job's report, with its newest finished evaluation if there is one."""
        if evaluation is None:
            rows = await self._store.read(
                "SELECT id FROM evaluations WHERE kind = ? AND status IN ('succeeded', 'stopped') "
                "AND (job_id = ? OR dataset_id = ?) ORDER BY id DESC LIMIT 1",
                (KIND_JOB, job_id, dataset_id),
            )
            evaluation = await get(self._store, rows[0]["id"]) if rows else None
        shown = await self.evaluation_view(evaluation) if evaluation is not None else None
        return await report_view(
            self._store, dataset_id=dataset_id, job_id=job_id, evaluation=shown
        )

    async def _place(self, row: EvaluationRow) -> Path:
        if row.dataset_id is not None:
            files = await self._store.files(row.dataset_id)
            dataset = files.get("dataset")
            if dataset is not None and dataset.moving_from is None:
                source = Path(dataset.path)
                return source.with_name(source.stem + REPORT_SUFFIX)
            run = await self._store.dataset(row.dataset_id)
            if run is not None and run.run_of is not None:
                # A run started by hand or by a sweep has no file of its own: its
                # report goes beside its dataset's, named by the run.
                first = (await self._store.files(run.run_of)).get("dataset")
                if first is not None and first.moving_from is None:
                    source = Path(first.path)
                    return source.with_name(f"{source.stem}.run-{run.id}{REPORT_SUFFIX}")
        return self._fallback / f"{row.job_id or f'eval-{row.id}'}{REPORT_SUFFIX}"

    async def write_for(self, evaluation_id: int) -> Path | None:
        """Write the report of a finished job evaluation; None for other evaluations."""
        row = await get(self._store, evaluation_id)
        if row is None or row.kind != KIND_JOB or row.status not in FINAL:
            return None
        view = await self.view(dataset_id=row.dataset_id, job_id=row.job_id, evaluation=row)
        html = render(view)
        path = await self._place(row)
        dataset = await self._store.dataset(row.dataset_id) if row.dataset_id else None
        reader = dataset.owner_uid if dataset is not None else None
        try:
            await anyio.to_thread.run_sync(_write, path, html, reader)
        except OSError as exc:
            log.error("report_not_written", evaluation_id=row.id, path=str(path), error=str(exc))
            return None
        async with self._store.transaction() as tx:
            await tx.execute(
                "UPDATE evaluations SET report_path = ? WHERE id = ?", (str(path), row.id)
            )
            tx.note("report_written", evaluation_id=row.id, job_id=row.job_id, path=str(path))
        return path

    async def keep_up(self, every: float) -> None:
        """Now and then, the report of any finished evaluation that has none yet.

        The report is written as an evaluation finishes; should that not happen
        (a crash between the two, or a write that failed), it is written at the
        next look rather than never.
        """
        while True:
            await anyio.sleep(every)
            try:
                await self.catch_up()
            except Exception:
                log.exception("report_catch_up_failed")

    async def catch_up(self) -> None:
        """Reports of evaluations that finished without one (just before a crash, say)."""
        rows = await self._store.read(
            "SELECT id FROM evaluations WHERE kind = ? AND report_path IS NULL "
            "AND status IN ('succeeded', 'stopped') ORDER BY id",
            (KIND_JOB,),
        )
        for row in rows:
            await self.write_for(row["id"])
