"""Recorded answers: asking a model every test item once, and reading the answers back.

Recording asks with the request parameters the evaluation's answers use
(``answer_params``), so a recorded answer stands where a live base model's
would. Each item's row is committed before its request is sent (see
``ftd.store.recordings``): a restart takes up only the items without one.

An evaluation against a recording (``recording_id`` on its row) reads its
base side from here instead of asking: ``RecordedSide`` hands the item
work a completion built from the recorded answer, matched by the prompt's
digest, and a missing, failed or lost answer fails that side of the item
with its reason, as a live request that gave up would.
"""

from __future__ import annotations

import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.evaluation import rft
from ftd.evaluation.items import ItemsError, read_items
from ftd.evaluation.pool import Completion, EvaluationAborted, RequestFailed, run_all
from ftd.logs import get_logger
from ftd.store import recordings as rows_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.config.evaluation import EvaluationSettings
    from ftd.evaluation.budget import Pricing
    from ftd.evaluation.items import Item
    from ftd.evaluation.pool import Requester
    from ftd.store import Store
    from ftd.store.evaluations import EvaluationRow
    from ftd.store.recordings import Answer, RecordingRow

log = get_logger("ftd.evaluation.recorded")


def answer_params(settings: EvaluationSettings) -> dict[str, Any]:
    """What the evaluation sends with each answer request (see ``item_work``)."""
    return {
        "temperature": settings.temperature,
        "max_completion_tokens": settings.max_completion_tokens,
        **rft.answer_params(settings),
    }


def recording_params(settings: EvaluationSettings) -> dict[str, Any]:
    """What a recording keeps of the settings: its request parameters and item cap."""
    return {"request": answer_params(settings), "max_items": settings.max_items}


class Recording:
    """Runs one recording from its row to its end; safe to run again after any stop."""

    def __init__(
        self,
        store: Store,
        requester: Callable[[], Requester],
        pricing: Callable[[str], Pricing],
        *,
        in_flight_for: Callable[[str], int],
    ) -> None:
        self._store = store
        self._requester = requester
        self._pricing = pricing
        self._in_flight_for = in_flight_for

    async def run(self, row: RecordingRow) -> None:
        params = dict(row.params.get("request") or {})
        max_items = row.params.get("max_items")
        try:
            items = await anyio.to_thread.run_sync(
                partial(read_items, Path(row.test_file), max_items=max_items)
            )
        except ItemsError as exc:
            await rows_of.finish(self._store, row.id, rows_of.FAILED, str(exc))
            return
        lost = await rows_of.start(self._store, row.id, len(items))
        taken = await rows_of.taken_items(self._store, row.id)
        todo = [item for item in items if item.index not in taken]
        if taken:
            log.info(
                "recording_resumed", recording_id=row.id, done=len(taken), left=len(todo), lost=lost
            )
        requester = self._requester()
        # No more items at once than the model's limit lets through: an item's row says
        # "asking" from just before its request, so it should not wait long for a slot.
        in_flight = self._in_flight_for(row.model)

        async def one(item: Item) -> None:
            await rows_of.intend(
                self._store,
                row.id,
                item=item.index,
                line=item.line,
                prompt_sha256=item.prompt_sha256,
                prompt=item.prompt,
                reference=item.reference,
            )
            try:
                answer = await requester.complete(row.model, list(item.prompt), params)
            except RequestFailed as exc:
                await rows_of.answered(
                    self._store,
                    row.id,
                    item.index,
                    response=None,
                    prompt_tokens=0,
                    completion_tokens=0,
                    latency_ms=None,
                    attempts=exc.attempts,
                    cost_usd=0.0,
                    error=str(exc),
                )
                return
            cost = 0.0
            if not answer.cached:
                cost = self._pricing(row.model).cost(answer.prompt_tokens, answer.completion_tokens)
            await rows_of.answered(
                self._store,
                row.id,
                item.index,
                response=answer.text,
                prompt_tokens=0 if answer.cached else answer.prompt_tokens,
                completion_tokens=0 if answer.cached else answer.completion_tokens,
                latency_ms=answer.latency_ms,
                attempts=answer.attempts,
                cost_usd=cost,
                cache_row=answer.cache_row(),
            )

        try:
            await run_all(todo, one, in_flight=in_flight)
        except EvaluationAborted as exc:
            await rows_of.finish(self._store, row.id, rows_of.FAILED, str(exc))
            return
        counts = await rows_of.tally(self._store, row.id)
        if not counts.get(rows_of.ANSWERED):
            first = next(
                (a.error for a in await rows_of.answers(self._store, row.id) if a.error), None
            )
            await rows_of.finish(
                self._store, row.id, rows_of.FAILED, f"no item was answered: {first}"
            )
            return
        await rows_of.finish(self._store, row.id, rows_of.SUCCEEDED, None)


class RecordedSide:
    """The recorded model's answers, as the item work asks for the base side's."""

    def __init__(self, recording: RecordingRow, answers: list[Answer]) -> None:
        self.recording = recording
        self._by_prompt = {a.prompt_sha256: a for a in answers}

    async def complete(self, item: Item) -> Completion:
        found = self._by_prompt.get(item.prompt_sha256)
        model = self.recording.model
        if found is None:
            raise RequestFailed(model, f"not in recording {self.recording.name}", 0)
        if found.state != rows_of.ANSWERED or found.response is None:
            reason = found.error or f"recorded as {found.state}"
            raise RequestFailed(model, f"recording {self.recording.name}: {reason}", 0)
        return Completion(
            model,
            found.response,
            found.prompt_tokens or 0,
            found.completion_tokens or 0,
            found.latency_ms or 0.0,
            0,
            cached=True,
            key="",
        )


async def side_of(store: Store, row: EvaluationRow) -> RecordedSide | None:
    """The recorded base side of an evaluation, if it has one."""
    if row.recording_id is None:
        return None
    recording = await rows_of.get(store, row.recording_id)
    if recording is None:
        return None
    return RecordedSide(recording, await rows_of.answers(store, recording.id))


def _day(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def sides(row: EvaluationRow, recording: RecordingRow | None) -> dict[str, Any]:
    """Which side was asked live and which was read from a recording, and when it was made."""
    base: dict[str, Any] = {"model": row.base_model, "source": "live"}
    if recording is not None:
        base = {
            "model": recording.model,
            "source": "recorded",
            "recording": recording.name,
            "recorded_at": _day(recording.finished_at or recording.updated_at),
            "recording_started_at": _day(recording.started_at),
            "provider": recording.provider,
        }
    return {"candidate": {"model": row.model, "source": "live"}, "base": base}
