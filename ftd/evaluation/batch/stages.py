"""An evaluation's requests through the provider's batch engine, stage by stage.

Stage one asks for the answers (candidate and base), stage two for the
judge's and the pairwise judge's verdicts on those answers. Each stage
writes its pending requests into files cut under the provider's request and
byte limits (one model per file), and for each file: records the intent,
uploads the file (found again by name after a crash), creates the batch with
ftd's tag in its metadata (found again by the tag), follows it, downloads
the output and error files to disk and commits each answer as a completion
cache row, once by its key. Requests that failed or expired are sent again
in a later batch, a bounded number of times, their reasons kept; what is
still missing after that is asked live when the items are committed.

The batch engine only fills the cache: the items are then committed with
the live path's own grading (a chunk of fully answered items at once, see
``prefetch``), which finds every answer there. So the rows, the grades and
the verdict are those of a live evaluation of the same answers.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import anyio
import orjson

from ftd.errors import RemoteError
from ftd.evaluation.batch import BATCH_PRICE_FACTOR
from ftd.evaluation.batch.requests import ANSWERS, JUDGING, Plan, Spec
from ftd.evaluation.cache import cache_key
from ftd.logs import get_logger
from ftd.providers.batches import COMPLETED
from ftd.store import batches as batch_rows

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from ftd.config.evaluation import EvaluationSettings
    from ftd.evaluation.batch.source import ItemSource
    from ftd.evaluation.budget import Pricing
    from ftd.evaluation.items import Item
    from ftd.providers import Provider
    from ftd.providers.batches import RemoteBatch
    from ftd.store import Store
    from ftd.store.batches import BatchRow
    from ftd.store.evaluations import EvaluationRow

log = get_logger("ftd.evaluation.batch")

TAG_KEY = "ftd_batch"
EVALUATION_KEY = "ftd_evaluation"
ITEM_CHUNK = 1000
# Output lines committed at once (CHUNK_BYTES bounds their memory). Each answer's cache
# row goes into an index of random keys: at 300,000 rows, 5,000 lines a commit cost 29
# µs a line against 42 µs for 1,000, each commit writing every index page it touched.
COMMIT_CHUNK = 5000
# Output files are capped well above what 50,000 answers of 1,024 tokens take.
MAX_OUTPUT_BYTES = 2 * 1024 * 1024 * 1024
# One output line is an answer of at most max_completion_tokens; a longer line is not read.
MAX_LINE_BYTES = 4 * 1024 * 1024
# A chunk of output lines read and committed at once stops at this many bytes.
CHUNK_BYTES = 8 * 1024 * 1024
# A batch has 24 hours; one followed longer than this is cancelled and its requests retried.
MAX_FOLLOW_SECONDS = 26 * 3600
SEND_ATTEMPTS = 3
# Batches followed at once: while followed a batch holds nothing but its last status.
PARALLEL_BATCHES = 8
# Batches committed at once, each holding one chunk of lines (CHUNK_BYTES at most): the
# memory of the commits is bounded by these two, not by how big the batches are.
PARALLEL_COMMITS = 2


@dataclass(frozen=True, slots=True)
class Prefilled:
    """The items whose requests were sent (all, unless the spend cap stopped some)."""

    admitted: ItemSource
    stopped_reason: str | None
    plan: Plan


def keys_path(request_file: Path) -> Path:
    """Where a request file's (custom_id, cache key) pairs are written beside it."""
    return request_file.with_suffix(".keys")


class _Writer:
    """One request file being written; closed when the next line would not fit.

    Each request's custom_id and cache key, known as it is written, go into a
    file beside it: the batch's requests are indexed from that, not by
    parsing and hashing every request again.
    """

    def __init__(self, path: Path, tag: str, model: str) -> None:
        self.path = path
        self.tag = tag
        self.model = model
        self.handle = path.open("wb")
        self.keys = keys_path(path).open("wb")
        self.requests = 0
        self.bytes = 0

    def fits(self, line: bytes, max_requests: int, max_bytes: int) -> bool:
        return self.requests < max_requests and self.bytes + len(line) <= max_bytes

    def add(self, line: bytes, custom_id: str, key: str) -> None:
        self.handle.write(line)
        self.keys.write(f"{custom_id} {key}\n".encode())
        self.requests += 1
        self.bytes += len(line)

    def close(self) -> None:
        for handle in (self.handle, self.keys):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()


class BatchStages:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        pricing: Callable[[str], Pricing],
        folder: Path,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._store = store
        self._provider = provider
        self._pricing = pricing
        self._folder = folder
        self._sleep = sleep
        self._committing = anyio.CapacityLimiter(PARALLEL_COMMITS)

    async def prefill(
        self,
        row: EvaluationRow,
        settings: EvaluationSettings,
        todo: ItemSource,
        repeat: frozenset[int],
        estimate: Callable[[Item], float],
    ) -> Prefilled:
        run = await batch_rows.run_of(self._store, row.id)
        assert run is not None, "the mode is chosen before the stages run"
        admitted, stopped = await _within_cap(row, settings, todo, estimate)
        folder = self._folder / f"eval-{row.id}"
        await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
        plan = Plan(row, settings, repeat)
        context = _Context(row, settings, plan, admitted, folder, run.token)
        await self._stage(context, ANSWERS)
        if plan.judged or plan.paired:
            await self._stage(context, JUDGING)
        return Prefilled(admitted, stopped, plan)

    # ------------------------------------------------------------------ one stage

    async def _stage(self, context: _Context, stage: str) -> None:
        while True:
            # Batches intended before a crash are finished first, never made again.
            opened = await batch_rows.open_batches(self._store, context.row.id, stage)
            written = not opened
            if written:
                opened = await self._write(context, stage)
                if not opened:
                    break
            answered = await self._drive_all(context, opened)
            if written and answered:
                # Every request still to ask was in these batches, and each came back
                # answered: another pass over the items would find nothing to write.
                break
        log.info("eval_batch_stage_done", evaluation_id=context.row.id, stage=stage)

    async def _specs_of(self, context: _Context, stage: str, chunk: list[Item]) -> list[Spec]:
        plan = context.plan
        if stage == ANSWERS:
            return [spec for item in chunk for spec in plan.answers(item)]
        answer_specs = {item.index: plan.answers(item) for item in chunk}
        texts = await batch_rows.cached_texts(
            self._store, [s.key for specs in answer_specs.values() for s in specs]
        )
        specs: list[Spec] = []
        for item in chunk:
            known = {
                side: texts[spec.key]
                for side, spec in enumerate(answer_specs[item.index])
                if spec.key in texts
            }
            specs.extend(plan.judging(item, known))
        return specs

    async def _write(self, context: _Context, stage: str) -> list[BatchRow]:
        """The stage's requests that are neither answered nor given up, in request files."""
        limits = self._provider.batch_limits
        max_requests = limits.max_requests
        if context.settings.batch_max_requests is not None:
            max_requests = min(max_requests, context.settings.batch_max_requests)
        max_bytes = limits.max_bytes
        writers: dict[str, _Writer] = {}
        written: list[BatchRow] = []
        seq = await batch_rows.next_seq(self._store, context.row.id)
        rounds = context.settings.batch_rounds

        async def close(writer: _Writer) -> None:
            await anyio.to_thread.run_sync(writer.close)
            written.append(
                await batch_rows.intend(
                    self._store,
                    context.row.id,
                    stage,
                    writer.tag,
                    str(writer.path),
                    writer.model,
                    writer.requests,
                    writer.bytes,
                )
            )

        async for chunk in context.items.chunks(ITEM_CHUNK):
            specs = await self._specs_of(context, stage, chunk)
            keys = [s.key for s in specs]
            answered = await batch_rows.cached_keys(self._store, keys)
            failures = await batch_rows.failure_counts(
                self._store, context.row.id, [s.custom_id for s in specs]
            )
            asked: set[str] = set()  # one item's identical requests (both pairwise orders of
            # two identical answers) are sent once; the cache answers the other
            for spec, key in zip(specs, keys, strict=True):
                if key in answered or failures.get(spec.custom_id, 0) >= rounds:
                    continue
                if key in asked:
                    continue
                asked.add(key)
                line = _request_line(spec)
                writer = writers.get(spec.model)
                if writer is not None and not writer.fits(line, max_requests, max_bytes):
                    await close(writer)
                    writer = None
                if writer is None:
                    tag = f"ftd-e{context.row.id}-{context.token}-{seq}"
                    seq += 1
                    writer = writers[spec.model] = _Writer(
                        context.folder / f"{tag}.jsonl", tag, spec.model
                    )
                writer.add(line, spec.custom_id, key)
        for writer in writers.values():
            await close(writer)
        return written

    # ------------------------------------------------------------------ one batch

    async def _drive_all(self, context: _Context, opened: list[BatchRow]) -> bool:
        """Each batch driven to its commit; whether every request of every one was answered."""
        slots = anyio.Semaphore(PARALLEL_BATCHES)
        answered = [False] * len(opened)

        async def one(index: int, batch: BatchRow) -> None:
            async with slots:
                answered[index] = await self._drive(context, batch)

        async with anyio.create_task_group() as tg:
            for index, batch in enumerate(opened):
                tg.start_soon(one, index, batch)
        return all(answered)

    async def _drive(self, context: _Context, batch: BatchRow) -> bool:
        """The batch created (or found), followed and committed; whether all was answered."""
        evaluation_id = context.row.id
        path = Path(batch.path)
        if not await anyio.Path(path).exists():
            # Written but never recorded as sent: nothing of it reached the provider.
            await batch_rows.update(self._store, batch.id, committed=1, status="lost")
            await anyio.Path(keys_path(path)).unlink(missing_ok=True)
            return False
        try:
            batch_id = batch.batch_id or await self._create(batch)
        except RemoteError as exc:
            log.warning(
                "eval_batch_not_created", evaluation_id=evaluation_id, tag=batch.tag, error=str(exc)
            )
            await self._fail_all(batch, f"the batch could not be created: {exc}")
            return False
        remote = await self._follow(batch, batch_id, context.settings.batch_poll_seconds)
        return await self._commit(context, batch, remote)

    async def _create(self, batch: BatchRow) -> str:
        provider = self._provider
        file_id = batch.file_id
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                if file_id is None:
                    found = await provider.find_batch_file(f"{batch.tag}.jsonl")
                    if found is None:
                        found = await provider.upload_batch_file(
                            Path(batch.path), f"{batch.tag}.jsonl"
                        )
                    file_id = found.id
                    await batch_rows.update(
                        self._store, batch.id, file_id=file_id, status="uploaded"
                    )
                existing = await provider.find_batches(TAG_KEY, batch.tag)
                if existing:
                    remote = existing[-1]  # the oldest of any, should a second ever exist
                    log.info("eval_batch_found", tag=batch.tag, batch_id=remote.id)
                else:
                    remote = await provider.create_batch(
                        file_id,
                        {TAG_KEY: batch.tag, EVALUATION_KEY: str(batch.evaluation_id)},
                    )
                    log.info(
                        "eval_batch_created",
                        evaluation_id=batch.evaluation_id,
                        tag=batch.tag,
                        batch_id=remote.id,
                        requests=batch.requests,
                    )
                await batch_rows.update(
                    self._store, batch.id, batch_id=remote.id, status=remote.status
                )
                return remote.id
            except RemoteError as exc:
                if not exc.retryable or attempt == SEND_ATTEMPTS:
                    raise
                log.info("eval_batch_send_retry", tag=batch.tag, attempt=attempt, error=str(exc))
                await self._sleep(min(60.0, 2.0**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _follow(self, batch: BatchRow, batch_id: str, poll: float) -> RemoteBatch | None:
        """The batch once it ended; None if it could not be read for the whole window."""
        give_up = anyio.current_time() + MAX_FOLLOW_SECONDS
        seen: tuple[str, int, int] | None = None
        while True:
            try:
                remote = await self._provider.batch(batch_id)
            except RemoteError as exc:
                log.warning("eval_batch_unread", tag=batch.tag, batch_id=batch_id, error=str(exc))
                remote = None
            if remote is not None:
                completed, failed = counts_so_far(batch, remote)
                now = (remote.status, completed, failed)
                if now != seen:
                    seen = now
                    await batch_rows.update(
                        self._store,
                        batch.id,
                        status=remote.status,
                        completed=completed,
                        failed=failed,
                    )
                    log.info(
                        "eval_batch_progress",
                        tag=batch.tag,
                        batch_id=batch_id,
                        status=remote.status,
                        completed=completed,
                        failed=failed,
                        total=remote.total or batch.requests,
                        progress=remote.progress,
                    )
                if remote.terminal:
                    return remote
            if anyio.current_time() > give_up:
                log.warning("eval_batch_abandoned", tag=batch.tag, batch_id=batch_id)
                with contextlib.suppress(RemoteError):
                    await self._provider.cancel_batch(batch_id)
                return None
            await self._sleep(poll)

    async def _commit(self, context: _Context, batch: BatchRow, remote: RemoteBatch | None) -> bool:
        """Every line of the output and error files, once; the rest of the file as failed.

        True when every request of the batch came back answered.

        Nothing of the batch is held in memory beyond one chunk of lines: the
        files are read from disk a bounded chunk at a time, and each request's
        cache key and outcome are in the database (see ``_index``).
        """
        evaluation_id = context.row.id
        # Output lines an earlier ftd committed before it indexed requests: in, and paid.
        paid_before = batch.committed_lines if await self._index(batch) else 0
        price = self._pricing(batch.model)

        def cost(prompt_tokens: int, completion_tokens: int) -> float:
            return price.cost(prompt_tokens, completion_tokens) * BATCH_PRICE_FACTOR

        async with self._committing:
            for file_id, suffix in (
                (remote.output_file_id if remote is not None else None, ".out.jsonl"),
                (remote.error_file_id if remote is not None else None, ".err.jsonl"),
            ):
                if not file_id:
                    continue
                path = Path(batch.path).with_suffix(suffix)
                await self._provider.download_file(file_id, path, max_bytes=MAX_OUTPUT_BYTES)
                number = 0
                before = paid_before if suffix == ".out.jsonl" else 0
                async for lines, read in self._read_lines(batch, path, before):
                    number += read
                    upto = number if suffix == ".out.jsonl" else 0
                    await batch_rows.commit_lines(self._store, batch, upto, lines, cost)
                await anyio.Path(path).unlink(missing_ok=True)
            if remote is None:
                why = "the batch could not be followed to its end"
            else:
                why = f"the batch ended {remote.status}" + (
                    f": {'; '.join(remote.errors[:3])}" if remote.errors else ""
                )
            while await batch_rows.fail_unsettled(self._store, batch, why, limit=COMMIT_CHUNK):
                pass
            status = remote.status if remote is not None else "abandoned"
            completed, failed = await batch_rows.settle(self._store, batch, status)
        log.info(
            "eval_batch_committed",
            evaluation_id=evaluation_id,
            tag=batch.tag,
            status=status,
            completed=completed,
            failed=failed,
        )
        if remote is not None and remote.status != COMPLETED and failed:
            log.info("eval_batch_retry_later", tag=batch.tag, requests=failed)
        await anyio.Path(batch.path).unlink(missing_ok=True)
        await anyio.Path(keys_path(Path(batch.path))).unlink(missing_ok=True)
        return failed == 0 and completed == batch.requests

    async def _index(self, batch: BatchRow) -> bool:
        """Record each request's custom_id and cache key from the request file, once.

        Read again a chunk at a time after a crash that left the record short
        (a request already recorded keeps its outcome). True when none was
        recorded before.
        """
        already = await batch_rows.indexed(self._store, batch.id)
        if already >= batch.requests:
            return False
        path, read = Path(batch.path), _request_keys
        if await anyio.Path(keys_path(path)).exists():
            path, read = keys_path(path), _written_keys
        async with await anyio.open_file(path, "rb") as handle:
            while pairs := await anyio.to_thread.run_sync(read, handle.wrapped, COMMIT_CHUNK):
                await batch_rows.index_requests(self._store, batch.id, pairs)
        return already == 0

    async def _read_lines(
        self, batch: BatchRow, path: Path, paid_before: int
    ) -> AsyncIterator[tuple[list[batch_rows.OutputLine], int]]:
        """A downloaded file's lines read, a bounded chunk at a time; with how many lines each.

        The first ``paid_before`` lines are marked as paid for already.
        """
        number = 0
        async with await anyio.open_file(path, "rb") as handle:
            while True:
                lines, read, too_long, more = await anyio.to_thread.run_sync(
                    self._read_chunk, handle.wrapped, number, paid_before
                )
                number += read
                if too_long:
                    log.warning(
                        "eval_batch_line_too_long",
                        tag=batch.tag,
                        lines=too_long,
                        max_bytes=MAX_LINE_BYTES,
                    )
                if read:
                    yield lines, read
                if not more:
                    return

    def _read_chunk(
        self, handle: IO[bytes], number: int, paid_before: int
    ) -> tuple[list[batch_rows.OutputLine], int, int, bool]:
        """Up to COMMIT_CHUNK lines or CHUNK_BYTES of them, read.

        (The lines, how many were not blank, how many too long, whether the
        file goes on.) ``number`` lines were read before; one within the first
        ``paid_before`` is marked so. A line over MAX_LINE_BYTES is skipped
        unread (its request ends failed).
        """
        found: list[batch_rows.OutputLine] = []
        read = too_long = size = 0
        while read < COMMIT_CHUNK and size < CHUNK_BYTES:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return found, read, too_long, False
            size += len(raw)
            if not raw.strip():
                continue
            read += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                too_long += 1
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                continue
            custom_id, answer, reason = self._read_line(raw)
            if custom_id is None:
                continue
            if answer is None:
                found.append(batch_rows.OutputLine(custom_id, None, reason=reason))
            else:
                paid = number + read <= paid_before
                found.append(batch_rows.OutputLine(custom_id, *answer, paid_before=paid))
        return found, read, too_long, True

    def _read_line(self, line: bytes) -> tuple[str | None, tuple[str, int, int] | None, str | None]:
        """(custom_id, (text, tokens in, tokens out) or None, the reason when None)."""
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None, None, None
        if not isinstance(data, dict) or not isinstance(data.get("custom_id"), str):
            return None, None, None
        custom_id = data["custom_id"]
        error = data.get("error")
        response = data.get("response")
        if isinstance(error, dict):
            return custom_id, None, f"{error.get('code')}: {error.get('message')}"
        if not isinstance(response, dict):
            return custom_id, None, "no response in the output line"
        status = response.get("status_code")
        body = response.get("body")
        if status != 200 or not isinstance(body, dict):
            message = None
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                message = body["error"].get("message")
            return custom_id, None, f"status {status}: {message or 'failed'}"
        try:
            answer = self._provider.batch_answer(body)
        except ValueError as exc:
            return custom_id, None, f"an answer ftd cannot read: {str(exc)[:200]}"
        return custom_id, (answer.text, answer.prompt_tokens, answer.completion_tokens), None

    async def _fail_all(self, batch: BatchRow, reason: str) -> None:
        await self._index(batch)  # (nothing of a batch never created was committed)
        while await batch_rows.fail_unsettled(self._store, batch, reason, limit=COMMIT_CHUNK):
            pass
        await batch_rows.settle(self._store, batch, "not_created", reason[:500])


@dataclass(frozen=True, slots=True)
class _Context:
    row: EvaluationRow
    settings: EvaluationSettings
    plan: Plan
    items: ItemSource
    folder: Path
    token: str


async def _within_cap(
    row: EvaluationRow,
    settings: EvaluationSettings,
    todo: ItemSource,
    estimate: Callable[[Item], float],
) -> tuple[ItemSource, str | None]:
    """The items that fit the spend cap at batch prices, in order; why the rest do not."""
    cap = settings.max_cost_usd
    if cap is None:
        return todo, None
    projected = row.cost_usd
    count = 0
    async for chunk in todo.chunks(ITEM_CHUNK):
        for item in chunk:
            cost = estimate(item) * BATCH_PRICE_FACTOR
            if projected + cost > cap:
                return todo.first(count), (
                    f"cost cap ${cap:g} reached: ${row.cost_usd:.4f} spent, the next item "
                    f"would bring it to about ${projected + cost:.4f} at batch prices"
                )
            projected += cost
            count += 1
    return todo, None


def counts_so_far(batch: BatchRow, remote: RemoteBatch) -> tuple[int, int]:
    """(completed, failed) so far: the provider's counts, or its percentage of the requests.

    A provider that tells only a percentage done (Together) has its
    percentage of the batch's requests shown as completed; which of them
    failed is known once the output is read.
    """
    if remote.total or remote.completed or remote.failed or remote.progress is None:
        return remote.completed, remote.failed
    return int(batch.requests * remote.progress / 100), 0


def _request_line(spec: Spec) -> bytes:
    return (
        orjson.dumps(
            {
                "custom_id": spec.custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": spec.body(),
            }
        )
        + b"\n"
    )


def _written_keys(handle: IO[bytes], count: int) -> list[tuple[str, str]]:
    """The next ``count`` (custom_id, cache key) pairs of a request file's keys file."""
    found: list[tuple[str, str]] = []
    for raw in handle:
        custom_id, _, key = raw.decode().rstrip("\n").partition(" ")
        if custom_id and len(key) == 64:  # (a line cut short by a crash is no pair)
            found.append((custom_id, key))
            if len(found) >= count:
                break
    return found


def _request_keys(handle: IO[bytes], count: int) -> list[tuple[str, str]]:
    """(custom_id, cache key) of the next ``count`` requests of one of ftd's request files."""
    found: list[tuple[str, str]] = []
    for raw in itertools.islice(handle, count):
        line = orjson.loads(raw)
        body: dict[str, Any] = dict(line["body"])
        model = body.pop("model")
        messages = body.pop("messages")
        repeat = 1 if "/judge_repeat/" in line["custom_id"] else 0
        found.append((line["custom_id"], cache_key(model, messages, body, repeat=repeat)))
    return found
