"""The Together AI adapter: plain HTTPS with aiohttp, translated into ftd's records.

Why not the official ``together`` SDK (3.1.1, read before choosing): it retries
every request, creates included, up to twice by default on 408/409/429/5xx
and connection errors, and sends no idempotency key (its client leaves the
idempotency header unset), so a lost answer to a job create can make a second
job; its file upload is a signed-URL redirect flow rather than the spec's one
``POST /files/upload``; and it needs httpx, which ftd does not otherwise carry
(the openai SDK here runs on httpx2). aiohttp is already a dependency (ARM
calls), so each Together route is one bounded request obeying the core's rules.

Differences from OpenAI that ftd relies on (Together's OpenAPI document):

- No job metadata and no filter. ftd finds its own job after a crash by the
  training file: its name (``ftd-<hash>-<tag>-train.jsonl``, see
  :mod:`ftd.tags`) carries the dataset's hash and tag, so a job whose training
  file bears that name is reported with ``metadata = {ftd_tag: <tag>}``, and the
  core's ``find_jobs`` believes it as it believes OpenAI's stored metadata.
  Where ftd chose the suffix it is the tag's first characters, a second check.
- Statuses: ``pending`` -> validating_files, ``queued`` -> queued, ``running``,
  ``compressing``, ``uploading`` and ``cancel_requested`` -> running,
  ``completed`` -> succeeded, ``error`` -> failed, ``cancelled`` -> cancelled;
  the provider's word is kept as ``provider_status``.
- Events carry no id and come in one unpaged list, oldest first; ftd names each
  by a digest of its type, time and step (stable across reads), merges in one
  ``metrics`` event per step from ``/fine-tunes/{id}/metrics`` (train/loss,
  eval/loss), and pages the merged list newest first itself.
- Hyperparameters are absolute (``learning_rate``, not a multiplier); ftd's
  ``n_epochs`` and ``batch_size`` carry over, the rest comes from the sidecar's
  provider-specific settings (``JobRequest.extra``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import anyio

from ftd.errors import RemoteError
from ftd.providers.core import Provider
from ftd.providers.kinds import INVALID, NOT_FOUND, TRANSIENT
from ftd.providers.openai_api import http_error
from ftd.providers.together_batches import TogetherBatches, answer_of
from ftd.providers.types import (
    Capabilities,
    ChatAnswer,
    Checkpoint,
    Deployment,
    JobError,
    JobEvent,
    RemoteFile,
    RemoteJob,
)
from ftd.tags import TAG_KEY

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from pydantic import SecretStr

    from ftd.providers.core import JobRequest

DEFAULT_BASE_URL = "https://api.together.ai/v1"
MAX_BODY = 16 * 1024 * 1024  # bytes of one JSON answer
MAX_CONTENT = 600 * 1024 * 1024  # bytes of one file's content
MAX_SUFFIX = 40
_STATUS = {
    "pending": "validating_files",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "cancelled": "cancelled",
    "error": "failed",
    "completed": "succeeded",
}
_ENDPOINT_STATE = {
    "PENDING": "creating",
    "STARTING": "creating",
    "STARTED": "succeeded",
    "STOPPING": "deleting",
    "STOPPED": "failed",
    "ERROR": "failed",
}
# The names ftd gives what it deploys (ftd.daemon.deployments): no slash, unlike a model's.
_DEPLOYMENT_NAME = re.compile(r"^ftd-[A-Za-z0-9._-]{1,60}$")
# ftd's upload names: ftd-<16 hex of the hash>-<tag>-<side>.jsonl
_UPLOAD_NAME = re.compile(r"^ftd-(?P<tag>[0-9a-f]{16}-[A-Za-z0-9_-]+)-(?:train|validation)\.jsonl$")


def tag_of_filename(filename: str) -> str | None:
    """The dataset tag an ftd upload name carries, or None for any other name."""
    match = _UPLOAD_NAME.match(filename)
    return match["tag"] if match else None


def suffix_for(tag: str) -> str:
    """The suffix ftd sends when the sidecar names none: the tag's hash part."""
    return "ftd-" + tag.split("-", 1)[0][:12]


def _seconds(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def event_id(job_id: str, kind: str, created: str, step: object, position: int) -> str:
    digest = hashlib.blake2b(
        f"{job_id}|{kind}|{created}|{step}|{position}".encode(), digest_size=10
    ).hexdigest()
    return f"ftev-{digest}"


class TogetherProvider(TogetherBatches, Provider):
    kind = "together"
    capabilities = Capabilities(
        pause=False,
        metadata_filter=False,
        metadata_stored=False,
        checkpoints=True,
        needs_deployment=False,
        price_estimate=True,
        delete_model=False,
        batch=True,  # serverless models only: a dedicated endpoint takes no batches
    )

    def __init__(
        self,
        profile: str,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 60.0,
        hardware: str | None = None,
        wandb_key: SecretStr | None = None,
        wandb_base_url: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(profile, **options)
        # Sent in the job create only, never logged (SecretStr prints as stars).
        self._wandb_key = wandb_key
        self._wandb_base_url = wandb_base_url
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._timeout = timeout
        self._hardware = hardware
        self._http: aiohttp.ClientSession | None = None
        self._filenames: dict[str, str] = {}  # file id -> name, as uploaded or listed
        self._endpoint_names: dict[str, str] = {}  # ftd's name -> the endpoint's own
        if hardware is not None:
            self.capabilities = Capabilities(
                pause=False,
                metadata_filter=False,
                metadata_stored=False,
                checkpoints=True,
                needs_deployment=True,
                price_estimate=True,
                delete_model=False,
            )

    # ------------------------------------------------------------------ transport

    def _is_remote_failure(self, exc: Exception) -> bool:
        return isinstance(exc, RemoteError | aiohttp.ClientError)

    def classify(self, operation: str, exc: Exception) -> RemoteError:
        return RemoteError(
            operation, f"connection failed: {type(exc).__name__}", kind=TRANSIENT, retryable=True
        )

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        limit: int = MAX_BODY,
        seconds: float | None = None,
        raw: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One request; its answer bounded, a failure turned into a RemoteError by its kind."""
        url = self._base + path
        options: dict[str, Any] = {"allow_redirects": False, **kwargs}
        if seconds is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=seconds)
        try:
            async with self._session().request(method, url, **options) as response:
                body = await response.content.read(limit + 1)
                status, headers = response.status, response.headers
        except TimeoutError as exc:  # aiohttp's own timeout: not the core's deadline
            raise RemoteError(operation, "timed out", kind=TRANSIENT, retryable=True) from exc
        if len(body) > limit:
            raise RemoteError(operation, f"answer over {limit} bytes", kind=TRANSIENT)
        if status >= 400:
            code, message = _error_of(body)
            error = http_error(operation, status, code, message, headers)
            if status == 400 and "not supported" in message.lower():
                error.kind = INVALID
            raise error
        if raw:
            return body
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError as exc:
            raise RemoteError(operation, "answer is not JSON", kind=TRANSIENT) from exc

    # ------------------------------------------------------------------ files

    def _file_of(self, item: object) -> RemoteFile:
        body = _dict(item)
        file_id, name = _str(body.get("id")), _str(body.get("filename"))
        if file_id is None or name is None:
            raise RemoteError("file", "file answer without id or filename", kind=TRANSIENT)
        self._filenames[file_id] = name
        processed = body.get("Processed", body.get("processed"))
        word = "processed" if processed is not False else "uploaded"
        size = body.get("bytes")
        return RemoteFile(
            id=file_id,
            filename=name,
            status=word,
            bytes=size if isinstance(size, int) else None,
            provider_status=word,
        )

    async def _op_upload(self, path: Path, filename: str) -> RemoteFile:
        data = await anyio.Path(path).read_bytes()
        form = aiohttp.FormData()
        form.add_field("purpose", "fine-tune")
        form.add_field("file_name", filename)
        form.add_field("file_type", "jsonl")
        form.add_field("file", data, filename=filename, content_type="application/octet-stream")
        answer = await self._call(
            "upload_file", "POST", "/files/upload", data=form, seconds=self._policy.upload_timeout
        )
        return self._file_of(answer)

    async def _files(
        self, purposes: tuple[str | None, ...] = (None, "fine-tune")
    ) -> list[RemoteFile]:
        """The files listed with one of ``purposes`` (training files, or batch inputs)."""
        answer = await self._call("list_files", "GET", "/files")
        items = _dict(answer).get("data")
        files = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("purpose") in purposes:
                try:
                    files.append(self._file_of(item))
                except RemoteError:
                    continue  # one malformed entry is not believed, the rest are
        return files

    async def _op_find_file(self, filename: str) -> RemoteFile | None:
        return next((f for f in await self._files() if f.filename == filename), None)

    async def _op_file(self, file_id: str) -> RemoteFile:
        answer = await self._call("retrieve_file", "GET", f"/files/{quote(file_id)}")
        return self._file_of(answer)

    async def _op_file_content(self, file_id: str) -> bytes:
        body: bytes = await self._call(
            "file_content",
            "GET",
            f"/files/{quote(file_id)}/content",
            limit=MAX_CONTENT,
            raw=True,
        )
        return body

    # ------------------------------------------------------------------ jobs

    def job_body(self, request: JobRequest) -> dict[str, Any]:
        """Together's create body from ftd's request (method, hyperparameters, extras)."""
        method = request.method.get("type", "supervised")
        settings = _dict(request.method.get(method))
        hyper = _dict(settings.get("hyperparameters"))
        extra = _dict(request.extra.get("together"))
        body: dict[str, Any] = {"model": request.model, "training_file": request.training_file}
        if request.validation_file is not None:
            body["validation_file"] = request.validation_file
        tag = request.metadata.get(TAG_KEY)
        suffix = request.suffix or (suffix_for(tag) if tag else None)
        if suffix is not None:
            if len(suffix) > MAX_SUFFIX:
                raise RemoteError(
                    "create_job",
                    f"suffix {suffix!r} is longer than Together's {MAX_SUFFIX} characters",
                    kind=INVALID,
                )
            body["suffix"] = suffix
        if request.seed is not None:
            body["random_seed"] = request.seed
        for name in ("n_epochs", "batch_size", "learning_rate"):
            if name in hyper:
                body[name] = hyper[name]
        for name in (
            "learning_rate",
            "n_checkpoints",
            "n_evals",
            "warmup_ratio",
            "lr_scheduler",
            "max_grad_norm",
            "weight_decay",
            "batch_size",
            "n_epochs",
        ):
            if name in extra:
                body[name] = extra[name]
        if method == "dpo":
            dpo: dict[str, Any] = {"method": "dpo"}
            if "beta" in hyper:
                dpo["dpo_beta"] = hyper["beta"]
            body["training_method"] = dpo
        else:
            body["training_method"] = {
                "method": "sft",
                "train_on_inputs": extra.get("train_on_inputs", "auto"),
            }
        lora = extra.get("lora")
        if extra.get("training_type") == "full":
            body["training_type"] = {"type": "Full"}
        elif isinstance(lora, dict):
            body["training_type"] = {"type": "Lora", **lora}
        if self._wandb_key is not None:
            # W&B only with the profile's key (by credential); a key in the request's
            # extras is never taken, so no sidecar can carry one.
            body["wandb_api_key"] = self._wandb_key.get_secret_value()
            if self._wandb_base_url is not None:
                body["wandb_base_url"] = self._wandb_base_url
            for name in ("wandb_project_name", "wandb_name"):
                if isinstance(extra.get(name), str):
                    body[name] = extra[name]
        return body

    async def _op_create_job(self, request: JobRequest) -> RemoteJob:
        answer = await self._call("create_job", "POST", "/fine-tunes", json=self.job_body(request))
        return await self._job_of(answer)

    async def _names(self, file_ids: set[str]) -> None:
        """Learn the names of training files this session has not seen yet (one list call)."""
        if file_ids - set(self._filenames):
            await self._files()

    async def _job_of(self, item: object, *, learn: bool = True) -> RemoteJob:
        """``learn``: list the files if the training file's name is not known yet (a page
        of jobs learns them once for all its jobs instead)."""
        body = _dict(item)
        job_id, word = _str(body.get("id")), _str(body.get("status"))
        if job_id is None or word is None:
            raise RemoteError("retrieve_job", "job answer without id or status", kind=TRANSIENT)
        training = _str(body.get("training_file"))
        if training is not None and learn:
            await self._names({training})
        name = self._filenames.get(training or "")
        tag = tag_of_filename(name) if name else None
        suffix = _str(body.get("suffix"))
        metadata: dict[str, str] = {}
        # A job ftd made names its training file by the tag; where ftd chose the suffix
        # too, it must agree.
        if tag is not None and (
            suffix is None or not suffix.startswith("ftd-") or suffix == suffix_for(tag)
        ):
            metadata[TAG_KEY] = tag
        status = _STATUS.get(word, word)
        error = None
        if word == "error":
            events = body.get("events")
            last = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
            failed = [e for e in last if e.get("type") == "job_error"]
            message = _str(failed[-1].get("message")) if failed else None
            error = JobError("job_error", message or "the job ended in error")
        tokens = body.get("token_count")
        return RemoteJob(
            id=job_id,
            status=status,
            model=_str(body.get("model")) or "",
            fine_tuned_model=_str(body.get("model_output_name")) if word == "completed" else None,
            trained_tokens=tokens if isinstance(tokens, int) and word == "completed" else None,
            error=error,
            metadata=metadata,
            created_at=_seconds(body.get("created_at")),
            provider_status=word,
        )

    async def _op_jobs_page(
        self, metadata: dict[str, str], after: str | None, limit: int
    ) -> tuple[list[RemoteJob], bool]:
        answer = await self._call("list_jobs", "GET", "/fine-tunes")
        items = _dict(answer).get("data")
        listed = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        listed.sort(key=lambda i: str(i.get("created_at") or ""), reverse=True)
        if after is not None:
            position = next((n for n, i in enumerate(listed) if i.get("id") == after), None)
            listed = [] if position is None else listed[position + 1 :]
        await self._names({str(i.get("training_file")) for i in listed[:limit]})
        jobs = [await self._job_of(item, learn=False) for item in listed[:limit]]
        return jobs, len(listed) > limit

    async def _op_job(self, job_id: str) -> RemoteJob:
        return await self._job_of(
            await self._call("retrieve_job", "GET", f"/fine-tunes/{quote(job_id)}")
        )

    async def _op_control(self, job_id: str, action: str) -> RemoteJob:
        if action != "cancel":
            raise self._unsupported(f"{action}_job", f"{action} of a job")
        path = f"/fine-tunes/{quote(job_id)}/cancel"
        return await self._job_of(await self._call("cancel_job", "POST", path))

    async def _all_events(self, job_id: str) -> list[JobEvent]:
        """Every event of the job, with one metrics event per trained step, oldest first."""
        answer = await self._call("list_events", "GET", f"/fine-tunes/{quote(job_id)}/events")
        items = _dict(answer).get("data")
        events: list[JobEvent] = []
        for position, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            created = _str(item.get("created_at")) or ""
            kind = _str(item.get("type")) or "message"
            level = _str(item.get("level")) or "info"
            data = {k: item[k] for k in ("step", "checkpoint_path", "model_path") if item.get(k)}
            events.append(
                JobEvent(
                    id=event_id(job_id, kind, created, item.get("step"), position),
                    created_at=int(_seconds(created) or 0),
                    level="warn" if level == "warning" else level,
                    type=kind,
                    message=_str(item.get("message")) or kind,
                    data=data or None,
                )
            )
        metrics = await self._metrics(job_id)
        total = max((int(r.get("train/global_step", 0)) for r in metrics), default=0)
        started = next((e.created_at for e in events if e.type == "training_start"), 0)
        for row in metrics:
            step = int(row.get("train/global_step", 0))
            figures: dict[str, Any] = {"step": step, "total_steps": total}
            if "train/loss" in row:
                figures["train_loss"] = row["train/loss"]
            if "eval/loss" in row:
                figures["valid_loss"] = row["eval/loss"]
            events.append(
                JobEvent(
                    id=event_id(job_id, "metrics", "", step, 0),
                    created_at=started,
                    level="info",
                    type="metrics",
                    message=f"Step {step}/{total}: training loss="
                    f"{figures.get('train_loss', 0):.2f}",
                    data=figures,
                )
            )
        events.sort(key=lambda e: e.created_at)
        return events

    async def _metrics(self, job_id: str) -> list[dict[str, float]]:
        answer = await self._call("job_metrics", "GET", f"/fine-tunes/{quote(job_id)}/metrics")
        rows = _dict(answer).get("metrics")
        return [
            {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
            for row in (rows if isinstance(rows, list) else [])
            if isinstance(row, dict) and isinstance(row.get("train/global_step"), int | float)
        ]

    async def _op_events_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[JobEvent], bool]:
        newest = list(reversed(await self._all_events(job_id)))
        if after is not None:
            position = next((n for n, e in enumerate(newest) if e.id == after), None)
            newest = [] if position is None else newest[position + 1 :]
        return newest[:limit], len(newest) > limit

    async def _op_checkpoints_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[Checkpoint], bool]:
        if after is not None:
            return [], False  # one unpaged list: the first page held everything
        path = f"/fine-tunes/{quote(job_id)}/checkpoints"
        answer = await self._call("list_checkpoints", "GET", path)
        items = _dict(answer).get("data")
        metrics = {int(r["train/global_step"]): r for r in await self._metrics(job_id)}
        found: list[Checkpoint] = []
        seen: set[int] = set()
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("step"), int):
                continue
            step, model = item["step"], _str(item.get("path"))
            kind = _str(item.get("checkpoint_type")) or ""
            # A LoRA job's final step is listed twice (merged, adapter): one checkpoint.
            if model is None or step in seen or kind == "Final Adapter":
                continue
            seen.add(step)
            row = metrics.get(step, {})
            figures: dict[str, float | int] = {"step": step}
            if "train/loss" in row:
                figures["train_loss"] = row["train/loss"]
            if "eval/loss" in row:
                figures["valid_loss"] = row["eval/loss"]
            found.append(
                Checkpoint(
                    id=f"{job_id}:{step}",
                    step=step,
                    model=model,
                    metrics=figures,
                    created_at=int(_seconds(item.get("created_at")) or 0),
                )
            )
        found.sort(key=lambda c: c.step, reverse=True)
        return found[:limit], False

    # ------------------------------------------------------------------ models

    async def _op_model_ids(self) -> list[str]:
        answer = await self._call("list_models", "GET", "/models")
        items = answer if isinstance(answer, list) else []
        return [str(i["id"]) for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]

    async def _op_model(self, name: str) -> None:
        if name not in await self._op_model_ids():
            raise RemoteError(
                "retrieve_model", f"model {name} is not listed", kind=NOT_FOUND, status=404
            )

    async def supported_models(self) -> list[str]:
        """The base models Together fine-tunes (``/fine-tunes/models/supported``)."""

        async def call() -> list[str]:
            answer = await self._call("supported_models", "GET", "/fine-tunes/models/supported")
            models = _dict(answer).get("models")
            return [m for m in models if isinstance(m, str)] if isinstance(models, list) else []

        return await self._read("supported_models", call)

    async def model_limits(self, model: str) -> dict[str, Any] | None:
        """``/fine-tunes/models/limits`` for one model; None if Together does not train it."""

        async def call() -> dict[str, Any] | None:
            try:
                answer = await self._call(
                    "model_limits", "GET", "/fine-tunes/models/limits", params={"model_name": model}
                )
            except RemoteError as error:
                if error.kind == NOT_FOUND:
                    return None
                raise
            return _dict(answer)

        return await self._read("model_limits", call)

    async def estimate_price(self, request: JobRequest) -> dict[str, Any]:
        """``/fine-tunes/estimate-price`` for the job ftd is about to create."""
        body = self.job_body(request)
        sent = {
            k: body[k]
            for k in (
                "training_file",
                "validation_file",
                "model",
                "n_epochs",
                "n_evals",
                "training_method",
                "training_type",
            )
            if k in body
        }

        async def call() -> dict[str, Any]:
            answer = await self._call(
                "estimate_price", "POST", "/fine-tunes/estimate-price", json=sent
            )
            return _dict(answer)

        return await self._read("estimate_price", call)

    async def _op_chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        request_timeout: float,
    ) -> ChatAnswer:
        body: dict[str, Any] = {"model": await self._served_as(model), "messages": list(messages)}
        for key, value in params.items():
            # Together takes max_tokens; OpenAI's newer name is translated.
            body["max_tokens" if key == "max_completion_tokens" else key] = value
        answer = _dict(
            await self._call(
                "chat_completion", "POST", "/chat/completions", json=body, seconds=request_timeout
            )
        )
        return answer_of(answer)

    # ------------------------------------------------------------------ endpoints

    async def _endpoints(self) -> list[dict[str, Any]]:
        answer = await self._call(
            "list_endpoints", "GET", "/endpoints", params={"type": "dedicated"}
        )
        items = _dict(answer).get("data")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    async def _endpoint_named(self, name: str) -> dict[str, Any] | None:
        """ftd's endpoint of this name: its ``display_name`` is the name ftd gave it."""
        for listed in await self._endpoints():
            endpoint_id = _str(listed.get("id"))
            if endpoint_id is None:
                continue
            full = _dict(
                await self._call("get_endpoint", "GET", f"/endpoints/{quote(endpoint_id)}")
            )
            if full.get("display_name") == name:
                return full
        return None

    async def _served_as(self, model: str) -> str:
        """The name chat takes: a dedicated endpoint's own name where ftd made one."""
        if not self.capabilities.needs_deployment or not _DEPLOYMENT_NAME.match(model):
            return model
        known = self._endpoint_names.get(model)
        if known is not None:
            return known
        found = await self._endpoint_named(model)
        name = _str(found.get("name")) if found else None
        if name is None:
            return model
        self._endpoint_names[model] = name
        return name

    async def served_without_deployment(self, model: str) -> bool:
        """Whether serverless inference answers ``model`` (a LoRA of a base that has it):
        one token asked; Together's ``model_not_available`` means an endpoint is needed."""
        try:
            await self.chat(
                model=model,
                messages=[{"role": "user", "content": "Reply with OK."}],
                params={"max_tokens": 1},
                request_timeout=30.0,
            )
        except RemoteError as error:
            if error.status == 404 or error.code == "model_not_available":
                return False
            raise
        return True

    async def deploy(self, name: str, model: str) -> Deployment:
        """An endpoint is made once: found again by its display name before any create."""
        if not self.capabilities.needs_deployment:
            raise self._unsupported("deploy", "deploying a model")
        found = await self._read("get_deployment", lambda: self._op_deployment(name))
        if found is not None:
            return found
        return await self._create("deploy", lambda: self._op_deploy(name, model))

    async def _op_deploy(self, name: str, model: str) -> Deployment:
        body = {
            "model": model,
            "hardware": self._hardware,
            "display_name": name,
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        }
        answer = await self._call("deploy", "POST", "/endpoints", json=body)
        served = _str(_dict(answer).get("name"))
        if served is not None:
            self._endpoint_names[name] = served
        return _deployment_of(answer, name)

    async def _op_deployment(self, name: str) -> Deployment | None:
        found = await self._endpoint_named(name)
        return None if found is None else _deployment_of(found, name)

    async def _op_deployments(self) -> list[Deployment]:
        found = []
        for listed in await self._endpoints():
            endpoint_id = _str(listed.get("id"))
            if endpoint_id is None:
                continue
            full = _dict(
                await self._call("get_endpoint", "GET", f"/endpoints/{quote(endpoint_id)}")
            )
            display = _str(full.get("display_name"))
            if display is not None and display.startswith("ftd-"):
                found.append(_deployment_of(full, display))
        return found

    async def _op_undeploy(self, name: str) -> None:
        found = await self._endpoint_named(name)
        endpoint_id = _str(found.get("id")) if found else None
        if endpoint_id is None:
            return
        try:
            await self._call("delete_endpoint", "DELETE", f"/endpoints/{quote(endpoint_id)}")
        except RemoteError as error:
            if error.kind != NOT_FOUND:
                raise
        self._endpoint_names.pop(name, None)


def _deployment_of(answer: object, name: str) -> Deployment:
    body = _dict(answer)
    word = _str(body.get("state"))
    return Deployment(
        name=name,
        model=_str(body.get("model")) or "",
        state=_ENDPOINT_STATE.get(word or "", word or "unknown"),
        provider_state=word,
        sku=_str(body.get("hardware")),
        capacity=1,
    )


def _error_of(raw: bytes) -> tuple[str | None, str]:
    """(code, message) of a Together error body: ``ErrorData`` or ``{"message": ...}``."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, raw[:200].decode("utf-8", "replace")
    error = _dict(body).get("error")
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, str) else None), str(error.get("message") or "")[:500]
    return None, str(_dict(body).get("message") or "no error body")[:500]
