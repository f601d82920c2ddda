"""Batch jobs, flavour-neutral: a file of requests answered later, on the emulator's clock.

A batch keeps only what cannot be recomputed: when it was created, how long
each phase lasts, how it will end (completed, failed validation or expired,
decided at creation from the knobs), which requests will fail, and when it
was cancelled. Its status and counts are read off the clock whenever someone
looks; the one side effect (answering every request and writing the output
and error files) is materialised the first time anyone looks after the end.
Each request is answered by the same chat core as ``/v1/chat/completions``,
so a batch answer equals the live answer to the same body.

The routes and the object shape live with each flavour (``batch_routes`` for
OpenAI); this module knows nothing of how a flavour renders a batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ftd.emulator import ids
from ftd.emulator.apierrors import ApiError, bad_request, not_found
from ftd.emulator.records import FileRecord
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ftd.emulator.settings import RuntimeConfig
    from ftd.emulator.state import EmulatorState

log = get_logger(__name__)

JOURNAL_KIND = "batch"
MAX_REQUESTS = 50_000
MAX_INPUT_BYTES = 200 * 1024 * 1024
WINDOW = "24h"
OUTPUT_PURPOSE = "batch_output"
OUTPUT_TTL_S = 30 * 86_400
# Emulated seconds per phase, divided by the speed knob (in_progress: batch_seconds).
VALIDATE_S = 20.0
FINALIZE_S = 10.0
CANCEL_S = 10.0

VALIDATING = "validating"
FAILED = "failed"
IN_PROGRESS = "in_progress"
FINALIZING = "finalizing"
COMPLETED = "completed"
EXPIRED = "expired"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
TERMINAL = frozenset({FAILED, COMPLETED, EXPIRED, CANCELLED})


@dataclass(slots=True)
class BatchRecord:
    id: str
    created_at: float
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    model: str | None
    total: int
    validate_s: float
    run_s: float
    finalize_s: float
    cancel_s: float
    fate: str  # completed | failed | expired
    errors: list[dict[str, Any]] = field(default_factory=list)
    failing: list[int] = field(default_factory=list)  # line numbers answered with a 500
    finished_before_expiry: int = 0  # for an expired batch: how many lines were answered
    output_ttl_s: int = OUTPUT_TTL_S
    cancelled_at: float | None = None
    settled: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    usage: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchRecord:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BatchView:
    """What a flavour renders: the status at this moment, its timestamps and counts."""

    record: BatchRecord
    status: str
    times: dict[str, int]  # in_progress_at, finalizing_at, completed_at, failed_at, ...
    completed: int
    failed: int


@dataclass(slots=True)
class _Parsed:
    total: int = 0
    model: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def _error(code: str, message: str, line: int | None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def parse_input(data: bytes, endpoint: str, max_requests: int = MAX_REQUESTS) -> _Parsed:
    """Check every line as the real service's validating phase does; collect, don't stop."""
    parsed = _Parsed()
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed.total += 1
        if len(parsed.errors) >= 100:
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed.errors.append(_error("invalid_json_line", "The line is not valid JSON.", number))
            continue
        if not isinstance(line, dict):
            parsed.errors.append(_error("invalid_request", "A line must be an object.", number))
            continue
        custom_id = line.get("custom_id")
        body = line.get("body")
        if not isinstance(custom_id, str) or not custom_id:
            parsed.errors.append(
                _error("missing_required_parameter", "custom_id is required.", number, "custom_id")
            )
        elif custom_id in seen:
            parsed.errors.append(
                _error(
                    "duplicate_custom_id",
                    f"The custom_id '{custom_id}' appears more than once.",
                    number,
                    "custom_id",
                )
            )
        else:
            seen.add(custom_id)
        if line.get("method") != "POST":
            parsed.errors.append(_error("invalid_method", "method must be POST.", number, "method"))
        if line.get("url") != endpoint:
            parsed.errors.append(
                _error(
                    "invalid_url", f"url must be the batch's endpoint {endpoint}.", number, "url"
                )
            )
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            parsed.errors.append(
                _error("missing_required_parameter", "body.model is required.", number, "body")
            )
        elif parsed.model is None:
            parsed.model = model
        elif model != parsed.model:
            parsed.errors.append(
                _error(
                    "mismatched_model",
                    f"All requests in a batch must use one model; line uses '{model}', "
                    f"earlier lines '{parsed.model}'.",
                    number,
                    "body.model",
                )
            )
    if parsed.total == 0:
        parsed.errors.append(_error("empty_file", "The input file has no requests.", None))
    if parsed.total > max_requests:
        parsed.errors.append(
            _error(
                "too_many_requests",
                f"The batch has {parsed.total} requests, over the limit of {max_requests}.",
                None,
            )
        )
    return parsed


def check_metadata(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16:
        raise bad_request("metadata must be an object of at most 16 pairs", param="metadata")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 64 or len(item) > 512:
            raise bad_request(
                "metadata keys are at most 64 characters, values strings of at most 512",
                param=f"metadata.{key}",
            )
    return dict(value)


class BatchService:
    """The batch engine shared by every flavour; a flavour supplies routes and rendering."""

    def __init__(
        self,
        state: EmulatorState,
        config: RuntimeConfig,
        chat: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        *,
        clock: Callable[[], float] = time.time,
        endpoints: tuple[str, ...] = ("/v1/chat/completions",),
        id_prefix: str = "batch_",
        input_purpose: str = "batch",
        output_purpose: str = OUTPUT_PURPOSE,
        default_window: str | None = None,
        max_requests: int = MAX_REQUESTS,
        max_input_bytes: int = MAX_INPUT_BYTES,
    ) -> None:
        # A flavour names its own file purposes; Together leaves the window out, meaning 24h.
        # Each provider has its own ceilings on one batch's input file (OpenAI's by default).
        self._max_requests = max_requests
        self._max_input_bytes = max_input_bytes
        self._input_purpose = input_purpose
        self._output_purpose = output_purpose
        self._default_window = default_window
        self._state = state
        self._config = config
        self._chat = chat
        self._clock = clock
        self._endpoints = endpoints
        self._id_prefix = id_prefix
        self._rng = random.Random(config.seed)
        self._settling: set[str] = set()
        self.batches: dict[str, BatchRecord] = {}
        for row in state.journal.load(JOURNAL_KIND):
            record = BatchRecord.from_json(row)
            self.batches[record.id] = record

    def _save(self, record: BatchRecord) -> None:
        self.batches[record.id] = record
        self._state.journal.save(JOURNAL_KIND, record.id, record.to_json())

    # -- create, read, cancel ------------------------------------------------------
    def create(self, body: dict[str, Any], *, output_ttl_s: int | None = None) -> BatchRecord:
        input_file_id = body.get("input_file_id")
        if not isinstance(input_file_id, str) or not input_file_id:
            raise bad_request("Missing required parameter: 'input_file_id'.", param="input_file_id")
        endpoint = body.get("endpoint")
        if endpoint not in self._endpoints:
            raise bad_request(
                f"endpoint must be one of {list(self._endpoints)}, got {endpoint!r}",
                param="endpoint",
            )
        window = body.get("completion_window", self._default_window)
        if window != WINDOW:
            raise bad_request(
                f"completion_window must be '{WINDOW}', got {window!r}", param="completion_window"
            )
        metadata = check_metadata(body.get("metadata"))
        now = self._clock()
        source = self._state.live_file(input_file_id, now)
        if source is None:
            raise not_found(f"No such File object: {input_file_id}", param="input_file_id")
        if source.purpose != self._input_purpose:
            raise bad_request(
                f"The input file {input_file_id} must be uploaded with purpose "
                f"'{self._input_purpose}', "
                f"not '{source.purpose}'.",
                param="input_file_id",
            )
        if source.bytes > self._max_input_bytes:
            raise bad_request(
                f"The input file is {source.bytes} bytes, over the limit of "
                f"{self._max_input_bytes}.",
                param="input_file_id",
            )
        parsed = parse_input(
            self._state.blobs.read(input_file_id), str(endpoint), self._max_requests
        )
        config = self._config
        speed = config.speed
        fate = COMPLETED
        if parsed.errors:
            fate = FAILED
        elif self._rng.random() < config.batch_expire_rate:
            fate = EXPIRED
        failing: list[int] = []
        if fate != FAILED and config.batch_request_failure_rate > 0:
            rate = config.batch_request_failure_rate
            failing = [n for n in range(parsed.total) if self._rng.random() < rate]
        record = BatchRecord(
            id=ids.new_id(self._id_prefix, 32),
            created_at=now,
            endpoint=str(endpoint),
            input_file_id=input_file_id,
            completion_window=WINDOW,
            metadata=metadata,
            model=parsed.model,
            total=0 if fate == FAILED else parsed.total,
            validate_s=VALIDATE_S / speed,
            run_s=config.batch_seconds / speed,
            finalize_s=FINALIZE_S / speed,
            cancel_s=CANCEL_S / speed,
            fate=fate,
            errors=parsed.errors,
            failing=failing,
            finished_before_expiry=parsed.total // 2,
            output_ttl_s=output_ttl_s or OUTPUT_TTL_S,
        )
        self._save(record)
        log.info(
            "batch_created",
            batch_id=record.id,
            requests=parsed.total,
            fate=fate,
            failing=len(failing),
        )
        return record

    def get(self, batch_id: str) -> BatchRecord:
        record = self.batches.get(batch_id)
        if record is None:
            raise not_found(f"No batch found with id '{batch_id}'.", param="batch_id")
        return record

    def page(self, after: str | None, limit: int) -> tuple[list[BatchRecord], bool]:
        records = list(reversed(self.batches.values()))  # newest first
        if after is not None:
            position = next((i for i, r in enumerate(records) if r.id == after), None)
            records = [] if position is None else records[position + 1 :]
        return records[:limit], len(records) > limit

    def cancel(self, record: BatchRecord) -> BatchRecord:
        status = self.view(record).status
        if status in TERMINAL or status == FINALIZING:
            raise ApiError(
                409, f"Cannot cancel a batch with status '{status}'.", code="batch_not_cancellable"
            )
        if record.cancelled_at is None:
            record.cancelled_at = self._clock()
            self._save(record)
            log.info("batch_cancelled", batch_id=record.id)
        return record

    # -- the clock --------------------------------------------------------------------
    def _progress(self, record: BatchRecord, at: float) -> float:
        start = record.created_at + record.validate_s
        if at <= start:
            return 0.0
        if record.run_s <= 0:
            return 1.0
        return min(1.0, (at - start) / record.run_s)

    def view(self, record: BatchRecord) -> BatchView:
        now = self._clock()
        created = record.created_at
        started = created + record.validate_s
        ran = started + record.run_s
        done = ran + record.finalize_s
        times: dict[str, int] = {}
        failing = len(record.failing)
        answerable = record.total - failing
        if record.fate == EXPIRED:
            answerable = record.finished_before_expiry - sum(
                1 for n in record.failing if n < record.finished_before_expiry
            )
            failing = record.finished_before_expiry - answerable

        def counts(at: float) -> tuple[int, int]:
            fraction = self._progress(record, at)
            return int(answerable * fraction), int(failing * fraction)

        if record.cancelled_at is not None and record.cancelled_at < (
            started if record.fate == FAILED else ran
        ):
            if record.cancelled_at >= started:
                times["in_progress_at"] = int(started)
            times["cancelling_at"] = int(record.cancelled_at)
            completed, failed = counts(record.cancelled_at)
            if now < record.cancelled_at + record.cancel_s:
                return BatchView(record, CANCELLING, times, completed, failed)
            times["cancelled_at"] = int(record.cancelled_at + record.cancel_s)
            return self._final(record, CANCELLED, times, completed, failed)
        if now < started:
            return BatchView(record, VALIDATING, times, 0, 0)
        if record.fate == FAILED:
            times["failed_at"] = int(started)
            return BatchView(record, FAILED, times, 0, 0)
        times["in_progress_at"] = int(started)
        if now < ran:
            completed, failed = counts(now)
            return BatchView(record, IN_PROGRESS, times, completed, failed)
        if record.fate == EXPIRED:
            times["expired_at"] = int(ran)
            return self._final(record, EXPIRED, times, answerable, failing)
        times["finalizing_at"] = int(ran)
        if now < done:
            return BatchView(record, FINALIZING, times, answerable, failing)
        times["completed_at"] = int(done)
        return self._final(record, COMPLETED, times, answerable, failing)

    def _final(
        self, record: BatchRecord, status: str, times: dict[str, int], completed: int, failed: int
    ) -> BatchView:
        if record.settled:
            return BatchView(record, status, times, record.completed, record.failed)
        if record.id in self._settling:
            # Its files are still being written: the phase before, as the real service
            # shows while it prepares results.
            before = {COMPLETED: FINALIZING, CANCELLED: CANCELLING, EXPIRED: IN_PROGRESS}[status]
            final = {COMPLETED: "completed_at", CANCELLED: "cancelled_at", EXPIRED: "expired_at"}
            times = {k: v for k, v in times.items() if k != final[status]}
            return BatchView(record, before, times, completed, failed)
        return BatchView(record, status, times, completed, failed)

    def ends_at(self, record: BatchRecord) -> int:
        return int(record.created_at + 86_400)

    # -- settling: the answers and their files ---------------------------------------
    async def settle(self, record: BatchRecord) -> BatchView:
        """Answer the requests of a batch that has ended, once; later looks read the record."""
        view = self.view(record)
        if record.settled or view.status not in (COMPLETED, EXPIRED, CANCELLED):
            return view
        self._settling.add(record.id)
        try:
            return await self._answer_all(record, view)
        finally:
            self._settling.discard(record.id)

    async def _answer_all(self, record: BatchRecord, view: BatchView) -> BatchView:
        answered = record.total
        if view.status == EXPIRED:
            answered = record.finished_before_expiry
        elif view.status == CANCELLED:
            assert record.cancelled_at is not None
            answered = int(record.total * self._progress(record, record.cancelled_at))
        failing = set(record.failing)
        outputs: list[bytes] = []
        errors: list[bytes] = []
        usage = {"input_tokens": 0, "output_tokens": 0}
        data = self._state.blobs.read(record.input_file_id)
        index = 0
        for raw in data.splitlines():
            if not raw.strip():
                continue
            line = orjson.loads(raw)
            custom_id = line["custom_id"]
            line_id = ids.new_id("batch_req_", 32)
            if index >= answered:
                code = "batch_expired" if view.status == EXPIRED else "batch_cancelled"
                message = (
                    "This request could not be executed before the completion window expired."
                    if view.status == EXPIRED
                    else "This request was not executed because the batch was cancelled."
                )
                entry: dict[str, Any] = {
                    "id": line_id,
                    "custom_id": custom_id,
                    "response": None,
                    "error": {"code": code, "message": message},
                }
                errors.append(orjson.dumps(entry))
            elif index in failing:
                error = ApiError(
                    500,
                    "The server had an error while processing your request.",
                    type="server_error",
                )
                errors.append(orjson.dumps(_response_line(line_id, custom_id, 500, error.body())))
            else:
                try:
                    body = await self._chat(line["body"])
                except ApiError as exc:
                    errors.append(
                        orjson.dumps(_response_line(line_id, custom_id, exc.status, exc.body()))
                    )
                else:
                    counted = body.get("usage") or {}
                    usage["input_tokens"] += int(counted.get("prompt_tokens", 0))
                    usage["output_tokens"] += int(counted.get("completion_tokens", 0))
                    outputs.append(orjson.dumps(_response_line(line_id, custom_id, 200, body)))
            index += 1
            if index % 200 == 0:
                await asyncio.sleep(0)  # let other requests in while a big batch settles
        now = int(self._clock())
        if outputs:
            record.output_file_id = self._write_file(record, "output", outputs, now)
        if errors:
            record.error_file_id = self._write_file(record, "errors", errors, now)
        record.completed = len(outputs)
        record.failed = (
            len(errors) if view.status == COMPLETED else len(errors) - (record.total - answered)
        )
        record.usage = {
            "input_tokens": usage["input_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
        }
        record.settled = True
        self._save(record)
        log.info(
            "batch_settled",
            batch_id=record.id,
            status=view.status,
            completed=record.completed,
            failed=record.failed,
        )
        return self.view(record)

    def _write_file(self, record: BatchRecord, kind: str, lines: list[bytes], now: int) -> str:
        data = b"\n".join(lines) + b"\n"
        file = FileRecord(
            id=ids.new_id("file-"),
            filename=f"{record.id}_{kind}.jsonl",
            purpose=self._output_purpose,
            bytes=len(data),
            created_at=now,
            expires_at=now + record.output_ttl_s,
        )
        self._state.blobs.put(file.id, data)
        self._state.add_file(file)
        return file.id


def _response_line(line_id: str, custom_id: str, status: int, body: object) -> dict[str, Any]:
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": {
            "status_code": status,
            "request_id": ids.new_id("req_", 32),
            "body": body,
        },
        "error": None,
    }
