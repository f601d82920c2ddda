"""The evaluation service: queues evaluations, runs them, and answers the control socket.

Its loop follows the pipeline stages' rule, the database is the queue: each
turn it queues an evaluation for every succeeded job whose model answers and
whose dataset held out a test split (the insert meets a unique index, so a
job is queued once however many turns or restarts see it), then starts the
queued and interrupted evaluations up to ``parallel_evaluations``. Wake-ups
(a finished job, a request) only save time.

Completions go through a client of their own, without the fine-tuning
calls' shared pace: chat has per-model limits at the provider, which the
pool's adaptive limits follow, while a pause the provider asked of the whole
account is still honoured.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError

from ftd.config.evaluation import GRADER_NAMES, EvaluationOverrides, EvaluationSettings
from ftd.datasets.split import origin_of
from ftd.errors import FtdError
from ftd.evaluation import rft
from ftd.evaluation.batch.engine import BatchEngine
from ftd.evaluation.batch.source import count_items
from ftd.evaluation.budget import Pricing
from ftd.evaluation.cache import ResponseCache
from ftd.evaluation.limits import Limits
from ftd.evaluation.pool import Requester
from ftd.evaluation.runner import Runner
from ftd.evaluation.summary import build_summary, largest_differences
from ftd.logs import get_logger
from ftd.profiles import DEFAULT_PROFILE
from ftd.providers import Providers
from ftd.store import batches as batch_rows
from ftd.store import evaluations as rows_of
from ftd.store import recordings as recording_rows

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from anyio.abc import TaskGroup, TaskStatus

    from ftd.config import Settings
    from ftd.pace import Pace
    from ftd.providers import ChatAnswer, Embeddings, Provider
    from ftd.store import Store
    from ftd.store.evaluations import EvaluationRow
    from ftd.store.recordings import RecordingRow

log = get_logger("ftd.evaluation.service")
BUG_RETRY_SECONDS = 300.0


class EvaluationRequestError(FtdError):
    """An evaluation asked for on request cannot be queued; says which argument and why."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


# Test items sent through the socket; the socket's own request limit applies first.
MAX_TEST_ITEMS_BYTES = 16 << 20
REQUESTS_DIR = "requests"


def _keep_private(folder: Path, text: str) -> Path:
    """The items in a file of the daemon's own (0600, named by their hash), made once."""
    data = text.encode("utf-8")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}.jsonl"
    if path.exists():
        return path
    temporary = folder / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


class EvaluationService:
    def __init__(
        self,
        store: Store,
        settings: Settings | Callable[[], Settings],
        *,
        pace: Pace | None = None,
        provider: Provider | None = None,
        scan_seconds: float = 30.0,
        on_finished: Callable[[int], Awaitable[object]] | None = None,
        servable: Callable[[str, str, str, str], Awaitable[bool]] | None = None,
    ) -> None:
        self._store = store
        # (job id, profile, base model, model) -> whether every model the evaluation asks
        # answers now; where a provider serves a model only once deployed, the deployer
        # says when.
        self._servable = servable
        self._on_finished = on_finished
        # A callable is read again at each use, so a reloaded configuration applies
        # to the next evaluation queued (and to the limits and attempts at once).
        self._current = settings if callable(settings) else lambda: settings
        self._pace = pace
        self._provider = provider
        self._providers: Providers | None = None
        # model -> (profile, the name chat calls send): a job's models are asked at its
        # provider, under the deployment that serves them where one is needed.
        self._routes: dict[str, tuple[str, str]] = {}
        self._scan = scan_seconds
        self._wakeup = anyio.Event()
        self._busy: set[int] = set()
        self._postponed: dict[int, float] = {}
        self.limits = Limits(lambda model: self._config.concurrency_for(model))
        self.cache = ResponseCache(store)
        self._requester: Requester | None = None
        self._prices: tuple[Settings | None, dict[str, Pricing]] = (None, {})

    # ------------------------------------------------------------------ the loop

    def wake(self) -> None:
        self._wakeup.set()

    @property
    def _settings(self) -> Settings:
        return self._current()

    @property
    def _config(self) -> EvaluationSettings:
        return self._current().evaluation

    def _apply(self, requester: Requester) -> None:
        """Configuration changes reach the running parts: ceilings, attempts, timeout."""
        config = self._config
        self.limits.reconfigure(config.concurrency_for)
        requester.attempts = config.attempts
        requester.timeout = config.request_timeout_seconds

    def pricing(self, model: str) -> Pricing:
        """The model's prices under the configuration now, worked out once per configuration.

        Asked three times an item (each answer and the judge's, for the estimate
        and the tab); working them out anew each time was a tenth of a batch
        evaluation's CPU.
        """
        settings = self._settings
        known, prices = self._prices
        if known is not settings:
            prices = {}
            self._prices = (settings, prices)
        found = prices.get(model)
        if found is None:
            found = prices[model] = Pricing.of(settings.price_for(model))
        return found

    @property
    def requester(self) -> Requester:
        if self._requester is None:
            raise RuntimeError("the evaluation service is not running")
        return self._requester

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if self._provider is None:
            # Clients of our own: chat answers' rate-limit headers must not pause the
            # fine-tuning calls' pace (a pause the provider asks of the account still holds).
            self._providers = Providers(self._settings, lambda _profile: self._pace)
        self._requester = Requester(
            self._chat,
            self.limits,
            self.cache,
            attempts=self._config.attempts,
            timeout=self._config.request_timeout_seconds,
            embed=self._embed,
        )
        runner = Runner(
            self._store,
            self._requester,
            self.pricing,
            in_flight_for=lambda model: self._config.concurrency_for(model),
            no_embeddings=self._no_embeddings,
            batch=BatchEngine(
                self._store,
                self._provider_of,
                self.pricing,
                lambda: self._current().paths.state_dir / "batches",
            ),
        )
        try:
            async with anyio.create_task_group() as tg:
                task_status.started()
                while True:
                    self._wakeup = anyio.Event()
                    self._apply(self._requester)
                    if self._config.enabled:
                        await self.queue_ready()
                    await self._start_due(tg, runner)
                    with anyio.move_on_after(self._scan):
                        await self._wakeup.wait()
        finally:
            if self._providers is not None:
                with anyio.CancelScope(shield=True):
                    await self._providers.close()

    async def _chat(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatAnswer:
        provider, served = self._routed(model)
        assert provider is not None
        return await provider.chat(
            model=served, messages=messages, params=params, request_timeout=request_timeout
        )

    async def _embed(
        self, *, model: str, texts: Sequence[str], request_timeout: float
    ) -> Embeddings:
        """Embeddings asked where the evaluation's models are (``route``), as chat is."""
        provider, served = self._routed(model)
        assert provider is not None
        return await provider.embed(model=served, texts=texts, request_timeout=request_timeout)

    def _no_embeddings(self, row: EvaluationRow) -> str | None:
        """The kind of the provider this evaluation asks, when it computes no embeddings."""
        provider = self._provider_of(row)
        if provider is None or provider.capabilities.embeddings:
            return None
        return provider.kind

    def _provider_of(self, row: EvaluationRow) -> Provider | None:
        """The provider an evaluation's candidate is asked at (its batches go there too)."""
        return self._routed(row.model)[0]

    def _routed(self, model: str) -> tuple[Provider | None, str]:
        """Where ``model`` is asked (``route``) and the name it is served by there."""
        profile, served = self._routes.get(model, (DEFAULT_PROFILE, model))
        if self._provider is not None:
            return self._provider, served
        if self._providers is None:
            return None, served
        return self._providers.get(profile), served

    async def route(self, row: EvaluationRow) -> None:
        """Where this evaluation's models are asked: the job's provider, its deployments."""
        if row.job_id is None:
            # Asked for by hand: a model ftd made is asked where its job lives.
            found = await self._store.read(
                "SELECT provider FROM jobs WHERE fine_tuned_model = ? ORDER BY id DESC LIMIT 1",
                (row.model,),
            )
        else:
            found = await self._store.read(
                "SELECT provider FROM jobs WHERE job_id = ?", (row.job_id,)
            )
        if not found:
            return
        profile = str(found[0]["provider"])
        served = {
            str(r["model"]): str(r["name"])
            for r in await self._store.read(
                "SELECT model, name FROM deployments WHERE provider = ? AND state = 'ready'",
                (profile,),
            )
        }
        config = EvaluationSettings.model_validate(row.config)
        judged = {"judge", "pairwise"} & set(config.graders)
        asked = (row.model, row.base_model, config.judge_model if judged else None)
        for model in (*asked, rft.embeddings_model(config), *rft.models_asked(config)):
            if model is not None:
                self._routes[model] = (profile, served.get(model, model))

    async def _start_due(self, tg: TaskGroup, runner: Runner) -> None:
        room = self._config.parallel_evaluations - len(self._busy)
        if room <= 0:
            return
        now = anyio.current_time()
        for row in await rows_of.to_run(self._store, room + len(self._busy)):
            if len(self._busy) >= self._config.parallel_evaluations:
                break
            if row.id in self._busy or self._postponed.get(row.id, 0.0) > now:
                continue
            if not await self._can_ask(row):
                continue
            self._busy.add(row.id)
            tg.start_soon(self._one, runner, row)

    async def _can_ask(self, row: EvaluationRow) -> bool:
        """A checkpoint's evaluation waits, like the job's, until its models answer."""
        if self._servable is None or row.kind != rows_of.KIND_CHECKPOINT or row.job_id is None:
            return True
        found = await self._store.read(
            "SELECT provider, model FROM jobs WHERE job_id = ?", (row.job_id,)
        )
        if not found:
            return True
        job = found[0]
        return await self._servable(row.job_id, job["provider"], job["model"], row.model)

    async def _one(self, runner: Runner, row: EvaluationRow) -> None:
        try:
            await self.route(row)
            await runner.run(row)
            done = await rows_of.get(self._store, row.id)
            if self._on_finished is not None and done is not None and done.status in rows_of.FINAL:
                await self._on_finished(row.id)
        except Exception:
            # A bug, not a provider's answer: keep the daemon and the other
            # evaluations going, and come back to this one later.
            log.exception("evaluation_error", evaluation_id=row.id)
            self._postponed[row.id] = anyio.current_time() + BUG_RETRY_SECONDS
        finally:
            self._busy.discard(row.id)
            self.wake()

    async def queue_ready(self) -> list[int]:
        """Queue one evaluation for each ready job that has none: its model against its base."""
        queued: list[int] = []
        for job in await rows_of.ready_jobs(self._store):
            settings = self.settings_for_dataset(job["settings"])
            if not settings.enabled:
                continue
            if self._servable is not None and not await self._servable(
                job["job_id"], job["provider"], job["base_model"], job["model"]
            ):
                continue
            new_id = await rows_of.queue(
                self._store,
                kind=rows_of.KIND_JOB,
                model=job["model"],
                base_model=job["base_model"],
                test_file=job["test_file"],
                config=settings.model_dump(mode="json"),
                job_id=job["job_id"],
                dataset_id=job["dataset_id"],
            )
            if new_id is not None:
                queued.append(new_id)
        return queued

    def settings_for_dataset(self, stored: str | None) -> EvaluationSettings:
        """[evaluation] with the dataset's sidecar choices (kept in its run settings) on top."""
        if not stored:
            return self._config
        data = json.loads(stored)
        if not isinstance(data, dict):
            return self._config
        overrides = data.get("evaluation")
        settings = self._config
        if overrides:
            settings = EvaluationOverrides.model_validate(overrides).applied_to(settings)
        chosen = isinstance(overrides, dict) and overrides.get("graders") is not None
        return rft.for_run(settings, data, graders_chosen=chosen)

    # ------------------------------------------------------------------ on request

    async def request(
        self,
        *,
        model: str,
        test_file: Path | None = None,
        base_model: str | None = None,
        graders: Sequence[str] | None = None,
        test_items: str | None = None,
        recording: str | None = None,
        mode: str | None = None,
    ) -> int:
        """Queue an evaluation of ``model`` on ``test_file`` or on ``test_items``; its id.

        A caller of the control socket sends the test file's content
        (``test_items``), read with the caller's own rights: the daemon never
        opens a path on someone's behalf (it could read what they may not, or
        wait for ever on a FIFO). The content is kept in a private file of the
        daemon's. The items are read first: a file that cannot be evaluated
        raises ItemsError naming the file and line; a bad argument raises
        EvaluationRequestError naming it.
        """
        name = model.strip()
        if not name or any(c.isspace() for c in name):
            raise EvaluationRequestError("model", f"{model!r} is not a model name")
        if base_model is not None and (not base_model.strip() or base_model.strip() == name):
            raise EvaluationRequestError(
                "base_model", f"{base_model!r} must be another model's name"
            )
        recorded = await self._recording(recording, base_model, name)
        if recorded is not None:
            base_model = recorded.model
            if test_items is None and test_file is None:
                test_file = Path(recorded.test_file)  # the items the recording asked
        settings = self._config
        if graders is not None:
            try:
                overrides = EvaluationOverrides.model_validate({"graders": list(graders)})
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                raise EvaluationRequestError(
                    "graders", f"{first['msg']} (known: {', '.join(GRADER_NAMES)})"
                ) from None
            settings = overrides.applied_to(settings)
        if mode is not None:
            if mode not in ("live", "batch", "auto"):
                raise EvaluationRequestError("mode", f"{mode!r} is not live, batch or auto")
            settings = settings.model_copy(update={"mode": mode})
        if test_items is not None:
            if len(test_items.encode("utf-8", errors="replace")) > MAX_TEST_ITEMS_BYTES:
                raise EvaluationRequestError(
                    "test_items", f"more than {MAX_TEST_ITEMS_BYTES:,} bytes of test items"
                )
            folder = self._current().paths.state_dir / REQUESTS_DIR
            path = await anyio.to_thread.run_sync(_keep_private, folder, test_items)
        elif test_file is not None:
            path = Path(test_file)
        else:
            raise EvaluationRequestError("test_items", "no test items given")
        if not path.is_absolute():
            raise EvaluationRequestError(
                "test_file", f"{test_file} must be an absolute path (the daemon runs in /)"
            )
        # Every line checked, the items counted and not kept: a test file of 100,000
        # items held whole here would take more memory than the whole evaluation.
        items = await anyio.to_thread.run_sync(
            partial(count_items, path, max_items=settings.max_items, reinforcement=False)
        )
        new_id = await rows_of.queue(
            self._store,
            kind=rows_of.KIND_REQUEST,
            model=name,
            base_model=base_model.strip() if base_model else None,
            test_file=str(path),
            config=settings.model_dump(mode="json"),
            recording_id=recorded.id if recorded is not None else None,
        )
        assert new_id is not None  # only job evaluations can meet the unique index
        log.info("evaluation_requested", evaluation_id=new_id, model=name, items=items)
        self.wake()
        return new_id

    async def _recording(
        self, name: str | None, base_model: str | None, model: str
    ) -> RecordingRow | None:
        """The finished recording an evaluation takes as its base side, checked."""
        if name is None:
            return None
        found = await recording_rows.named(self._store, name)
        if found is None:
            raise EvaluationRequestError("recording", f"no recording named {name!r}")
        if found.status != recording_rows.SUCCEEDED:
            raise EvaluationRequestError(
                "recording", f"recording {name!r} is {found.status}, not finished"
            )
        if base_model is not None and base_model.strip() != found.model:
            raise EvaluationRequestError(
                "base_model",
                f"recording {name!r} holds {found.model}'s answers, not {base_model}'s",
            )
        if found.model == model:
            raise EvaluationRequestError("recording", f"{name!r} recorded {model} itself")
        return found

    async def route_model(self, model: str, profile: str) -> None:
        """Ask ``model`` at ``profile``, under its deployment there if one is ready."""
        found = await self._store.read(
            "SELECT name FROM deployments WHERE provider = ? AND model = ? AND state = 'ready'",
            (profile, model),
        )
        self._routes[model] = (profile, str(found[0]["name"]) if found else model)

    # ------------------------------------------------------------------ reads for the socket

    async def detail(self, evaluation_id: int, *, differences: int = 5) -> dict[str, Any] | None:
        """An evaluation's row, its summary (live while it runs) and the items that differ most."""
        row = await rows_of.get(self._store, evaluation_id)
        if row is None:
            return None
        return {
            "evaluation": row.brief(),
            "summary": await self.summary(evaluation_id),
            "promotion": row.promotion,
            "differences": await self.differences(evaluation_id, limit=differences),
            "batches": await batch_rows.progress(self._store, evaluation_id),
        }

    async def summary(self, evaluation_id: int) -> dict[str, Any] | None:
        """The stored summary of a finished evaluation; computed from its items while it runs."""
        row = await rows_of.get(self._store, evaluation_id)
        if row is None:
            return None
        if row.summary is not None and row.status in rows_of.FINAL:
            return row.summary
        found = await rows_of.items(self._store, evaluation_id)
        settings = EvaluationSettings.model_validate(row.config)
        if not found:
            done = await rows_of.progress(self._store, evaluation_id)
            return {
                "evaluation_id": row.id,
                "status": row.status,
                "progress": {**done, "total": row.total_items},
                "cost_usd": round(row.cost_usd, 6),
            }
        return await anyio.to_thread.run_sync(partial(build_summary, row, found, settings))

    async def differences(self, evaluation_id: int, *, limit: int = 10) -> list[dict[str, Any]]:
        """The items where the two models differ most under the primary grader (for reports)."""
        row = await rows_of.get(self._store, evaluation_id)
        if row is None or row.base_model is None:
            return []
        grader = (row.summary or {}).get("primary_grader") or EvaluationSettings.model_validate(
            row.config
        ).primary_grader
        found = await rows_of.items(self._store, evaluation_id)
        differences = largest_differences(found, grader, limit=limit)
        test_file = Path(row.test_file)
        for item in differences:
            origin = await anyio.to_thread.run_sync(origin_of, test_file, int(item["line"]))
            item["source"] = {"file": origin[0], "line": origin[1]} if origin else None
        return differences

    async def of_job(self, job_id: str) -> list[dict[str, Any]]:
        return [row.brief() for row in await rows_of.of_job(self._store, job_id)]

    async def of_dataset(self, dataset_id: int) -> list[dict[str, Any]]:
        return [row.brief() for row in await rows_of.of_dataset(self._store, dataset_id)]

    async def running(self) -> list[dict[str, Any]]:
        """Queued and running evaluations with their progress, for a live view."""
        views: list[dict[str, Any]] = []
        for row in await rows_of.running(self._store):
            done = await rows_of.progress(self._store, row.id)
            view = {**row.brief(), "progress": {**done, "total": row.total_items}}
            batches = await batch_rows.progress(self._store, row.id)
            if batches is not None:
                view["batches"] = batches
            views.append(view)
        return views

    async def counts(self) -> dict[str, Any]:
        return {"by_status": await rows_of.counts(self._store), "limits": self.limits.state()}

    async def verdicts(self, models: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The newest evaluation of each model: for model lists."""
        found = await rows_of.latest_of_models(self._store, models)
        return {model: row.brief() for model, row in found.items()}
