"""One evaluation from its row to its verdict: the missing items through the pool, then the summary.

The item's rows, the completions it paid for and its spend commit together
(see ``item_work``), so an interrupted evaluation resumes with only the items
that have no rows, and pays for nothing twice. At the end come the summary,
the gates, the promote command, and, when configured, the checkpoints' own
evaluations, whose scores are gathered back into the job's summary.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.config.evaluation import EvaluationSettings
from ftd.evaluation import rft
from ftd.evaluation.batch.prefetch import PrefetchedRequester, commit_items
from ftd.evaluation.batch.source import ItemSource, count_items
from ftd.evaluation.budget import Budget
from ftd.evaluation.gates import check_gates, run_promote_command
from ftd.evaluation.item_work import ItemWork, repeat_sample
from ftd.evaluation.items import ItemsError, read_items
from ftd.evaluation.pool import EvaluationAborted, run_all
from ftd.evaluation.recorded import side_of, sides
from ftd.evaluation.summary import Collected, summary_graders, summary_of
from ftd.logs import get_logger
from ftd.store import batches as batch_rows
from ftd.store import evaluations as rows_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.evaluation.batch.engine import BatchEngine
    from ftd.evaluation.budget import Pricing
    from ftd.evaluation.items import Item
    from ftd.evaluation.pool import Requester
    from ftd.store import Store
    from ftd.store.evaluations import EvaluationRow

log = get_logger("ftd.evaluation.runner")
MIN_ITEMS_IN_FLIGHT = 4


class Runner:
    def __init__(
        self,
        store: Store,
        requester: Requester,
        pricing: Callable[[str], Pricing],
        *,
        in_flight_for: Callable[[str], int],
        batch: BatchEngine | None = None,
        no_embeddings: Callable[[EvaluationRow], str | None] = lambda _row: None,
    ) -> None:
        self._batch = batch
        # The kind of the provider an evaluation asks when it computes no embeddings
        # (which cosine graders need); None when it does.
        self._no_embeddings = no_embeddings
        self._store = store
        self._requester = requester
        self._pricing = pricing
        self._in_flight_for = in_flight_for

    async def run(self, row: EvaluationRow) -> None:
        settings = EvaluationSettings.model_validate(row.config)
        refused = rft.problem(settings)
        lacking = self._no_embeddings(row) if rft.embeddings_model(settings) else None
        if refused is None and lacking is not None:
            refused = rft.no_embeddings(settings, lacking)
        if refused is not None:
            await self._finish(row, rows_of.FAILED, settings, error=refused)
            return
        reinforcement = rft.grader_of(settings) is not None
        path = Path(row.test_file)
        try:
            # Every line checked, none kept: a batch evaluation reads its items chunk by chunk.
            total = await anyio.to_thread.run_sync(
                partial(
                    count_items, path, max_items=settings.max_items, reinforcement=reinforcement
                )
            )
        except ItemsError as exc:
            await self._finish(row, rows_of.FAILED, settings, error=str(exc))
            return
        await rows_of.start(self._store, row.id, total)
        done = await rows_of.done_items(self._store, row.id)
        source = ItemSource(path, settings.max_items, reinforcement, frozenset(done), total)
        if done:
            log.info("evaluation_resumed", evaluation_id=row.id, done=len(done), left=source.count)
        repeat = repeat_sample(total, settings.judge_repeat_sample)
        work = ItemWork(
            self._store,
            self._requester,
            self._pricing,
            row,
            settings,
            repeat,
            recorded=await side_of(self._store, row),
        )
        batched = None
        if self._batch is not None and source.count:
            # The batch engine answers into the cache; the items then commit as below.
            batched = await self._batch.prefill(row, settings, source, repeat, work.estimate)
        todo: list[Item] = []
        if batched is None:
            try:
                items = await anyio.to_thread.run_sync(
                    partial(
                        read_items,
                        path,
                        max_items=settings.max_items,
                        reinforcement=reinforcement,
                    )
                )
            except ItemsError as exc:
                await self._finish(row, rows_of.FAILED, settings, error=str(exc))
                return
            todo = [item for item in items if item.index not in done]
            del items
        spent, first = row.cost_usd, work.estimate(todo[0]) if todo else 0.0
        if batched is not None:
            # What the batches cost is spent already; their answers now cost nothing.
            spent, first = (await rows_of.get(self._store, row.id) or row).cost_usd, 0.0
        budget = Budget(settings.max_cost_usd, spent, first_estimate=first)
        models = [
            row.model,
            row.base_model,
            settings.judge_model,
            rft.embeddings_model(settings),
            *rft.models_asked(settings),
        ]
        in_flight = max(
            MIN_ITEMS_IN_FLIGHT, 2 * max(self._in_flight_for(m) for m in models if m is not None)
        )

        async def one(item: Item) -> None:
            cost = 0.0
            try:
                cost = await work.run(item)
            finally:
                budget.finished(cost)

        try:
            if batched is not None:
                prefetched = PrefetchedRequester(self._requester, self._store)
                work = ItemWork(self._store, prefetched, self._pricing, row, settings, repeat)
                await commit_items(
                    batched.plan,
                    prefetched,
                    batched.admitted,
                    work,
                    one,
                    in_flight=in_flight,
                    admit=budget.admit,
                    finished=budget.finished,
                )
            else:
                await run_all(todo, one, in_flight=in_flight, admit=budget.admit)
        except EvaluationAborted as exc:
            await self._finish(row, rows_of.FAILED, settings, error=str(exc), total=total)
            return
        if batched is not None and batched.stopped_reason and not budget.stopped_reason:
            budget.stopped_reason = batched.stopped_reason
        status = rows_of.STOPPED if budget.stopped_reason else rows_of.SUCCEEDED
        await self._finish(row, status, settings, error=budget.stopped_reason, total=total)

    async def _finish(
        self,
        row: EvaluationRow,
        status: str,
        settings: EvaluationSettings,
        *,
        error: str | None,
        total: int | None = None,
    ) -> None:
        fresh = await rows_of.get(self._store, row.id) or row
        # The item rows are streamed into packed values, never all held at once.
        collected = Collected(summary_graders(fresh, settings))
        async for chunk in batch_rows.summary_chunks(self._store, row.id):
            await anyio.to_thread.run_sync(partial(_collect, collected, chunk))
        summary: dict[str, Any] | None = None
        if collected.items:
            summary = await anyio.to_thread.run_sync(
                partial(summary_of, fresh, collected, settings, total=total)
            )
            if status == rows_of.SUCCEEDED and 0 < collected.answers == collected.failed_answers:
                status = rows_of.FAILED
                error = "every item failed: " + str(collected.first_failure)
            summary["status"] = status
            summary["stopped_reason"] = error if status == rows_of.STOPPED else None
            recorded = await side_of(self._store, row)
            summary["sides"] = sides(row, recorded.recording if recorded else None)
            if self._batch is not None:
                await self._batch.annotate(fresh, summary)
        promoted: bool | None = None
        if summary is not None and status == rows_of.SUCCEEDED and row.kind != "checkpoint":
            summary["gates"], promoted = check_gates(settings, summary)
            summary["promoted"] = promoted
        if status == rows_of.SUCCEEDED and row.kind == rows_of.KIND_JOB and settings.checkpoints:
            await self._queue_checkpoints(row, settings)
        await rows_of.finish(
            self._store,
            row.id,
            status,
            summary=summary,
            verdict=summary["verdict"] if summary is not None else None,
            promoted=promoted,
            error=error,
        )
        if promoted and settings.promote_command:
            outcome = await run_promote_command(
                settings.promote_command,
                row.model,
                row.id,
                seconds=settings.promote_timeout_seconds,
            )
            await rows_of.record_promotion(self._store, row.id, outcome)
        if row.parent_id is not None:
            await self.update_parent(row.parent_id)

    async def _queue_checkpoints(self, row: EvaluationRow, settings: EvaluationSettings) -> None:
        assert row.job_id is not None
        config = settings.model_copy(update={"checkpoints": False}).model_dump(mode="json")
        for _step, model in await rows_of.checkpoint_models(self._store, row.job_id):
            if model == row.model:
                continue
            await rows_of.queue(
                self._store,
                kind=rows_of.KIND_CHECKPOINT,
                model=model,
                base_model=row.base_model,
                test_file=row.test_file,
                config=config,
                job_id=row.job_id,
                dataset_id=row.dataset_id,
                parent_id=row.id,
            )

    async def update_parent(self, parent_id: int) -> None:
        """The job's evaluation lists its checkpoints' scores and names the best model."""
        parent = await rows_of.get(self._store, parent_id)
        if parent is None or parent.summary is None:
            return
        grader = parent.summary.get("primary_grader")
        found = await rows_of.checkpoint_models(self._store, parent.job_id or "")
        steps = {model: step for step, model in found}
        entries: list[dict[str, Any]] = []
        for child in [*await rows_of.children(self._store, parent_id), parent]:
            graded = (child.summary or {}).get("graders", {}).get(grader) or {}
            entries.append(
                {
                    "model": child.model,
                    "step": steps.get(child.model),
                    "evaluation_id": child.id,
                    "status": child.status,
                    "mean": (graded.get("candidate") or {}).get("estimate"),
                    "interval": graded.get("candidate"),
                }
            )
        scored = [e for e in entries if e["mean"] is not None and e["status"] == rows_of.SUCCEEDED]
        summary = dict(parent.summary)
        summary["checkpoints"] = entries
        best = max(scored, key=lambda e: float(e["mean"])) if scored else None
        summary["best_checkpoint"] = best["model"] if best is not None else None
        await rows_of.update_summary(self._store, parent_id, summary)


def _collect(collected: Collected, rows: list[dict[str, Any]]) -> None:
    collected.add_rows(batch_rows.decode_scores(rows))
