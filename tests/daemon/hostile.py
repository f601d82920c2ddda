"""A hostile provider on loopback: the emulator behind a server that bends its answers.

Every request is passed to an emulator and its answer passed back, except
where a case bends it:

- ``endless_pages``: the job list always says ``has_more``, ignores
  ``after`` and shows the same page of others' jobs (a cursor that never
  advances, and ftd's jobs never in it); the checkpoint list always says
  ``has_more`` with new ids on every page (one that advances for ever).
- ``ignored_filter``: the job list ignores the metadata filter and shows,
  first, jobs of other people: one tagged by another ftd installation, one
  untagged.
- ``huge_bodies``: event pages are a body without length that never ends;
  file contents (result files) are endless too, as a 2 GB file would seem.
- ``slow_bodies``: event pages trickle one byte at a time, never ending.
- ``absurd_usage``: every job's ``trained_tokens`` is 10^15.

It counts requests by route, and the bytes it sent, for the test and the
benchmark to read. It runs its own event loop in a thread so a synchronous
test can start and stop it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

CASES = ("endless_pages", "ignored_filter", "huge_bodies", "slow_bodies", "absurd_usage")
ABSURD_TOKENS = 10**15
SLOW_READS = 2
FOREIGN: tuple[dict[str, str], ...] = (
    {"ftd_tag": "0000000000000000-zzzz", "ftd_instance": "someone-else"},
    {},
)
_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"}
_ROUTES = (
    (re.compile(r"^/v1/fine_tuning/jobs/[^/]+/events$"), "list_events"),
    (re.compile(r"^/v1/fine_tuning/jobs/[^/]+/checkpoints$"), "list_checkpoints"),
    (re.compile(r"^/v1/fine_tuning/jobs/[^/]+/(cancel|pause|resume)$"), "control_job"),
    (re.compile(r"^/v1/fine_tuning/jobs/[^/]+$"), "retrieve_job"),
    (re.compile(r"^/v1/fine_tuning/jobs$"), "jobs"),
    (re.compile(r"^/v1/files/[^/]+/content$"), "file_content"),
    (re.compile(r"^/v1/files/[^/]+$"), "file"),
    (re.compile(r"^/v1/files$"), "files"),
    (re.compile(r"^/v1/models"), "models"),
    (re.compile(r"^/v1/chat/completions$"), "chat"),
)


def route_of(method: str, path: str) -> str:
    for pattern, name in _ROUTES:
        if pattern.match(path):
            return f"{method} {name}"
    return f"{method} other"


def _foreign_job(index: int, metadata: dict[str, str], model: str) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job",
        "id": f"ftjob-foreign{index}",
        "model": model,
        "created_at": int(time.time()) - 60,
        "finished_at": int(time.time()) - 30,
        "fine_tuned_model": f"ft:{model}:someone-else::x{index}",
        "organization_id": "org-other",
        "result_files": [],
        "status": "succeeded",
        "validation_file": None,
        "training_file": "file-other",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
        "trained_tokens": 1000,
        "error": None,
        "seed": 1,
        "metadata": metadata or None,
        "method": {"type": "supervised"},
    }


class HostileServer:
    """The bending server; ``start`` gives its base URL (``…/v1``)."""

    def __init__(self, upstream: str, cases: set[str]) -> None:
        unknown = cases - set(CASES)
        assert not unknown, f"unknown cases {unknown}"
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.cases = cases
        self.requests: Counter[str] = Counter()
        self.sent_bytes = 0
        self.created_jobs: list[str] = []
        self.settled_counts: dict[str, int] = {}  # the counts when every job had ended
        self.foreign_ids = [f"ftjob-foreign{i}" for i in range(len(FOREIGN))]
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._checkpoint_serial = 0
        self._event_reads: Counter[str] = Counter()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ life

    def start(self) -> str:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the hostile server did not start")
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(30)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.requests)

    def _run(self, ready: threading.Event) -> None:
        asyncio.run(self._serve(ready))

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        async with aiohttp.ClientSession(auto_decompress=True) as session:
            self._session = session
            ready.set()
            await self._stopped.wait()
            await runner.cleanup()

    # ------------------------------------------------------------------ answers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = route_of(request.method, request.path)
        with self._lock:
            self.requests[route] += 1
        if route == "GET list_events":
            bend = self._events_case(request.path.split("/")[-2])
            if bend == "huge_bodies":
                return await self._endless(request, b'{"object": "list", "data": [', _EVENT)
            if bend == "slow_bodies":
                return await self._trickle(request)
        if route == "GET file_content" and "huge_bodies" in self.cases:
            return await self._endless(request, b"step,train_loss\n", b"1,0.5\n" * 4096)
        query = list(request.query.items())
        if route == "GET jobs":
            if "endless_pages" in self.cases:
                query = [(k, v) for k, v in query if k != "after"]
            if "ignored_filter" in self.cases:
                query = [(k, v) for k, v in query if not k.startswith("metadata")]
        status, headers, body = await self._forward(request, query)
        if headers.get("content-type", "").startswith("application/json") and body:
            answer = json.loads(body)
            answer = self._bend(route, answer)
            body = json.dumps(answer).encode()
        response = web.Response(status=status, body=body)
        for key, value in headers.items():
            if key.lower() not in _HOP:
                response.headers[key] = value
        self.sent_bytes += len(body)
        return response

    def _events_case(self, job_id: str) -> str | None:
        """Which bend a job's events get. With both cases, the first job's are always huge and
        the next one's slow twice, then plain (so its checkpoints get read, endless or not)."""
        both = {"huge_bodies", "slow_bodies"} <= self.cases
        if not both:
            return next((c for c in ("huge_bodies", "slow_bodies") if c in self.cases), None)
        with self._lock:
            index = self.created_jobs.index(job_id) if job_id in self.created_jobs else 0
            self._event_reads[job_id] += 1
            reads = self._event_reads[job_id]
        if index % 2 == 0:
            return "huge_bodies"
        return "slow_bodies" if reads <= SLOW_READS else None

    async def _forward(
        self, request: web.Request, query: list[tuple[str, str]]
    ) -> tuple[int, CIMultiDict[str], bytes]:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", *_HOP}}
        async with self._session.request(
            request.method,
            self.upstream + request.path,
            params=query,
            data=body or None,
            headers=headers,
        ) as upstream:
            return upstream.status, CIMultiDict(upstream.headers), await upstream.read()

    def _bend(self, route: str, answer: Any) -> Any:
        if not isinstance(answer, dict):
            return answer
        if route == "POST jobs" and isinstance(answer.get("id"), str):
            with self._lock:
                self.created_jobs.append(answer["id"])
        if route == "GET jobs":
            jobs = answer.get("data") or []
            if "ignored_filter" in self.cases:
                model = jobs[0]["model"] if jobs else "gpt-4.1-mini-2025-04-14"
                foreign = [_foreign_job(i, m, model) for i, m in enumerate(FOREIGN)]
                jobs = [*foreign, *jobs]
            if "endless_pages" in self.cases:
                # Always more, and always the same page, which never holds ftd's jobs.
                model = jobs[0]["model"] if jobs else "gpt-4.1-mini-2025-04-14"
                jobs = [_foreign_job(i, m, model) for i, m in enumerate(FOREIGN)]
                answer["has_more"] = True
            answer["data"] = [self._usage(job) for job in jobs]
        if route in ("GET retrieve_job", "POST control_job"):
            answer = self._usage(answer)
        if route == "GET list_checkpoints" and "endless_pages" in self.cases:
            data = answer.get("data") or []
            model = data[0]["fine_tuned_model_checkpoint"] if data else "ft:x"
            job_id = data[0]["fine_tuning_job_id"] if data else "ftjob-x"
            more = []
            for _ in range(10):
                with self._lock:
                    self._checkpoint_serial += 1
                    serial = self._checkpoint_serial
                more.append(_checkpoint(serial, job_id, model))
            answer["data"] = [*data, *more]
            answer["has_more"] = True
        return answer

    def _usage(self, job: Any) -> Any:
        if (
            "absurd_usage" in self.cases
            and isinstance(job, dict)
            and job.get("trained_tokens") is not None
        ):
            job["trained_tokens"] = ABSURD_TOKENS
        return job

    async def _endless(self, request: web.Request, head: bytes, chunk: bytes) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            await response.write(head)
            while True:
                await response.write(chunk)
                self.sent_bytes += len(chunk)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return response

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            while True:
                await response.write(b" ")
                self.sent_bytes += 1
                await asyncio.sleep(0.5)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return response


_EVENT = (
    json.dumps(
        {
            "object": "fine_tuning.job.event",
            "id": "ftevent-flood",
            "created_at": 1,
            "level": "info",
            "message": "Step 1/100: training loss=0.50",
            "type": "message",
        }
    ).encode()
    + b","
) * 512


def _checkpoint(serial: int, job_id: str, model: str) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": f"ftckpt_hostile{serial}",
        "created_at": 1,
        "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{serial}",
        "fine_tuning_job_id": job_id,
        "metrics": {"step": serial, "train_loss": 0.5},
        "step_number": serial,
    }


def peak_rss_kib(pid: int) -> int:
    """A process's peak resident set (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


# ---------------------------------------------------------------------- one run


@dataclass
class Outcome:
    """What one run against the hostile server showed."""

    cases: tuple[str, ...]
    requests: dict[str, int]
    peak_rss_kib: int
    status: dict[str, Any]
    status_text: str
    job_ids: list[str]
    created: list[str]
    cycles: list[dict[str, Any]]
    sent_bytes: int
    settled: bool
    settled_requests: dict[str, int]


DATASETS = ("alpha.jsonl", "beta.jsonl")
WATCH_SECONDS = 5.0  # watched after every job has ended (about 15 tracker intervals)


def run(
    root: Path,
    cases: set[str],
    *,
    emulator_url: str | None = None,
    timeout: float = 150.0,
    deadline: float | None = 6.0,
) -> Outcome:
    """Two datasets through ``ftd run`` at the hostile server until their jobs end, and a
    watch after (or ``timeout``); what the server saw and the daemon showed."""
    from ftd.emulator.process import EmulatorProcess
    from tests.daemon.harness import Daemon, write_dataset

    emulator = None
    if emulator_url is None:
        emulator = EmulatorProcess("--speed", "40", log_path=root / "emulator.log")
        emulator_url = emulator.start()
    server = HostileServer(emulator_url, cases)
    base_url = server.start()
    # Short reads and a short whole-call deadline, so a trickling server is given up on soon.
    provider: dict[str, Any] = {"timeout_seconds": 2.0, "max_retries": 1}
    if deadline is not None:
        provider["call_deadline_seconds"] = deadline
    daemon = Daemon(root / "ftd", base_url, {"provider": provider})
    try:
        daemon.start()
        for index, name in enumerate(DATASETS):
            write_dataset(daemon.incoming / name, 24, seed=f"{index}-")
        settled = _wait_settled(daemon, server, timeout)
        status = json.loads(daemon.ftd("status", "--json").stdout or "{}")
        status_text = daemon.ftd("status").stdout
        rss = peak_rss_kib(daemon.pid)
        job_ids = [r["job_id"] for r in daemon.query("SELECT job_id FROM jobs ORDER BY id")]
        cycles = daemon.events("tracker_cycle")
    finally:
        daemon.close()
        server.stop()
        if emulator is not None:
            emulator.stop()
    return Outcome(
        cases=tuple(sorted(cases)),
        requests=server.counts(),
        peak_rss_kib=rss,
        status=status,
        status_text=status_text,
        job_ids=job_ids,
        created=list(server.created_jobs),
        cycles=cycles,
        sent_bytes=server.sent_bytes,
        settled=settled,
        settled_requests=dict(server.settled_counts),
    )


def _wait_settled(daemon: Any, server: HostileServer, timeout: float) -> bool:
    """Every dataset's job ended and its result file read (or given up on); then a watch of
    ``WATCH_SECONDS`` more, so a request repeated every cycle would show in the counts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = daemon.query(
            "SELECT status, results_parsed_at FROM jobs WHERE dataset_id IS NOT NULL"
        )
        done = len(rows) == len(DATASETS) and all(
            r["status"] in ("succeeded", "failed", "cancelled")
            and (r["status"] != "succeeded" or r["results_parsed_at"] is not None)
            for r in rows
        )
        if done and "endless_pages" in server.cases:
            # Some job's checkpoints must have been walked (the endless listing capped).
            walked = daemon.query(
                "SELECT 1 FROM job_checkpoints WHERE checkpoint_id LIKE 'ftckpt_hostile%' LIMIT 1"
            )
            done = bool(walked)
        if done:
            server.settled_counts = server.counts()
            time.sleep(WATCH_SECONDS)
            return True
        time.sleep(0.2)
    return False
