"""The Azure OpenAI adapter: OpenAI's API shape on Azure's data plane, and ARM for deployments.

Differences from OpenAI that ftd relies on (see the specs in ``azure-openapi``):
the job list takes no metadata filter, so ftd's jobs are found by walking the
list and reading each job's metadata; a job's creation takes Azure's training
tier as ``trainingType`` (documented in Azure's REST how-to, absent from the
specs, so sent as an extra body field); uploads must carry ``expires_after``
(14 to 30 days); a fine-tuned model answers only through a deployment, made
through Azure Resource Manager. Deployments are plain HTTPS calls (four routes
under one resource path, with aiohttp, which ftd already depends on) rather
than the management SDK, whose own retry policy would resend a PUT without
ftd's knowledge; they obey the same core rules as every other call.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import openai

from ftd.errors import RemoteError
from ftd.providers.kinds import NOT_FOUND, NOT_READY, TRANSIENT
from ftd.providers.openai_api import OpenAIProvider, classify, http_error, job_body, job_of
from ftd.providers.types import Capabilities, Deployment, RemoteJob

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from ftd.config.provider import AzureProfile
    from ftd.providers.core import JobRequest

# Files for fine-tuning live 30 days, the longest Azure allows (1,209,600-2,592,000 s).
FILE_LIFETIME_SECONDS = 2_592_000
MAX_SUFFIX = 40
MAX_ARM_BODY = 1024 * 1024
# The job statuses of Azure's authoring API, in ftd's words (v1 answers OpenAI's words).
_STATUS = {
    "created": "queued",
    "pending": "queued",
    "notRunning": "queued",
    "pausing": "paused",
    "resuming": "running",
    "canceled": "cancelled",
}
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
_DEPLOYMENT_STATE = {
    "Accepted": "creating",
    "Creating": "creating",
    "Moving": "creating",
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Canceled": "failed",
    "Disabled": "failed",
    "Deleting": "deleting",
}


def _azure_job(job: RemoteJob) -> RemoteJob:
    word = job.provider_status or job.status
    status = _STATUS.get(word, word)
    if status == job.status:
        return job
    return RemoteJob(
        id=job.id,
        status=status,
        model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        estimated_finish=job.estimated_finish,
        error=job.error,
        result_files=job.result_files,
        metadata=job.metadata,
        created_at=job.created_at,
        provider_status=word,
    )


class AzureProvider(OpenAIProvider):
    kind = "azure"
    plain_chat = False  # deployment routes and Azure's own error words: through the SDK

    def __init__(
        self,
        profile: str,
        client: openai.AsyncOpenAI,
        azure: AzureProfile,
        *,
        management_token: Callable[[], Awaitable[str]] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(profile, client, **options)
        self._azure = azure
        self._token = management_token
        self._http: aiohttp.ClientSession | None = None
        self.capabilities = Capabilities(
            pause=True,
            metadata_filter=False,
            metadata_stored=True,
            checkpoints=True,
            needs_deployment=True,
            delete_model=False,
            # Global batch serves listed base models on GlobalBatch deployments; a
            # fine-tuned deployment is not among them, so evaluations here stay live.
            batch=False,
            # v1's /embeddings, on a deployment of an embeddings model (profile.deployments).
            embeddings=True,
        )

    def _is_remote_failure(self, exc: Exception) -> bool:
        return isinstance(exc, RemoteError | openai.OpenAIError | aiohttp.ClientError)

    def classify(self, operation: str, exc: Exception) -> RemoteError:
        if isinstance(exc, aiohttp.ClientError):
            return RemoteError(
                operation,
                f"connection failed: {type(exc).__name__}",
                kind=TRANSIENT,
                retryable=True,
            )
        error = classify(operation, exc)
        if error.code == "DeploymentNotReady":
            error.kind, error.retryable = NOT_READY, False
        return error

    async def close(self) -> None:
        await super().close()
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------ data plane

    def _upload_options(self) -> dict[str, Any]:
        return {"expires_after": {"anchor": "created_at", "seconds": FILE_LIFETIME_SECONDS}}

    async def _op_create_job(self, request: JobRequest) -> RemoteJob:
        if request.suffix is not None and len(request.suffix) > MAX_SUFFIX:
            raise RemoteError(
                "create_job",
                f"suffix {request.suffix!r} is longer than Azure's {MAX_SUFFIX} characters",
                kind="invalid",
            )
        extra: dict[str, Any] = {}
        tier = request.extra.get("training_type") or self._azure.training_type
        if tier is not None:
            extra["trainingType"] = tier
        job = await self._client.fine_tuning.jobs.create(
            **job_body(request), extra_body=extra or None
        )
        return _azure_job(job_of(job))

    async def _op_jobs_page(
        self, metadata: dict[str, str], after: str | None, limit: int
    ) -> tuple[list[RemoteJob], bool]:
        jobs, more = await super()._op_jobs_page({}, after, limit)
        return [_azure_job(job) for job in jobs], more

    async def _op_job(self, job_id: str) -> RemoteJob:
        return _azure_job(await super()._op_job(job_id))

    async def _op_control(self, job_id: str, action: str) -> RemoteJob:
        return _azure_job(await super()._op_control(job_id, action))

    def serving_name(self, model: str) -> str:
        """A configured deployment's name; ftd's own are routed by the evaluation."""
        return self._azure.deployment_for(model)

    # ------------------------------------------------------------------ ARM deployments

    def _deployment_url(self, name: str | None = None) -> str:
        azure = self._azure
        if not azure.can_deploy:
            raise RemoteError(
                "deploy",
                "azure.subscription_id, azure.resource_group and azure.account must be set "
                "for ftd to deploy models",
                kind="invalid",
            )
        assert azure.subscription_id is not None
        assert azure.resource_group is not None
        assert azure.account is not None
        path = (
            f"/subscriptions/{quote(azure.subscription_id)}"
            f"/resourceGroups/{quote(azure.resource_group)}"
            f"/providers/Microsoft.CognitiveServices/accounts/{quote(azure.account)}/deployments"
        )
        if name is not None:
            path += f"/{quote(name)}"
        return azure.management_url + path

    async def _arm(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> Any:
        operation = f"arm_{method.lower()}"
        if self._token is None:
            raise RemoteError(operation, "no credential for Azure Resource Manager", kind="auth")
        headers = {"Authorization": f"Bearer {await self._token()}"}
        params = {"api-version": self._azure.management_api_version}
        if url.startswith(self._azure.management_url + "/") and "api-version=" in url:
            params = {}
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self._policy.deadline / 2)
            self._http = aiohttp.ClientSession(timeout=timeout)
        async with self._http.request(
            method, url, params=params, json=body, headers=headers, allow_redirects=False
        ) as response:
            raw = await response.content.read(MAX_ARM_BODY + 1)
            status, answer_headers = response.status, response.headers
        if len(raw) > MAX_ARM_BODY:
            raise RemoteError(operation, f"answer over {MAX_ARM_BODY} bytes", kind=TRANSIENT)
        if status >= 400:
            code, message = _arm_error(raw)
            raise http_error(operation, status, code, message, answer_headers)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RemoteError(operation, "answer is not JSON", kind=TRANSIENT) from exc

    async def _op_deploy(self, name: str, model: str) -> Deployment:
        body = {
            "sku": {
                "name": self._azure.deployment_sku,
                "capacity": self._azure.deployment_capacity,
            },
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
        }
        answer = await self._arm("PUT", self._deployment_url(name), body)
        return _deployment_of(answer, name, model)

    async def _op_deployment(self, name: str) -> Deployment | None:
        try:
            answer = await self._arm("GET", self._deployment_url(name))
        except RemoteError as error:
            if error.kind == NOT_FOUND:
                return None
            raise
        return _deployment_of(answer, name, None)

    async def _op_deployments(self) -> list[Deployment]:
        found: list[Deployment] = []
        url: str | None = self._deployment_url()
        for _ in range(50):
            if url is None:
                break
            answer = await self._arm("GET", url)
            values = answer.get("value") if isinstance(answer, dict) else None
            found.extend(
                _deployment_of(item, item["name"], None)
                for item in (values if isinstance(values, list) else [])
                if isinstance(item, dict) and isinstance(item.get("name"), str)
            )
            link = answer.get("nextLink") if isinstance(answer, dict) else None
            # A next page is followed only on the same management host.
            same_host = isinstance(link, str) and link.startswith(self._azure.management_url)
            url = link if same_host and isinstance(link, str) else None
        return found

    async def _op_retirements(self) -> dict[str, str]:
        """Accounts_ListModels' deprecation dates: when each model stops answering."""
        if not self._azure.can_deploy or self._token is None:
            return {}
        url = self._deployment_url().removesuffix("/deployments") + "/models"
        answer = await self._arm("GET", url)
        values = answer.get("value") if isinstance(answer, dict) else None
        found: dict[str, str] = {}
        for item in values if isinstance(values, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            deprecation = item.get("deprecation")
            when = deprecation.get("inference") if isinstance(deprecation, dict) else None
            if not isinstance(when, str) or not _ISO_DAY.match(when):
                continue  # an answer that is not a date is not believed
            day = when[:10]
            version = item.get("version")
            found.setdefault(item["name"], day)
            if isinstance(version, str) and _ISO_DAY.match(version):
                found[f"{item['name']}-{version}"] = day
        return found

    async def _op_undeploy(self, name: str) -> None:
        try:
            await self._arm("DELETE", self._deployment_url(name))
        except RemoteError as error:
            if error.kind != NOT_FOUND:
                raise


def _arm_error(raw: bytes) -> tuple[str | None, str]:
    try:
        body = json.loads(raw)
    except ValueError:
        return None, raw[:200].decode("utf-8", "replace")
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "no error body"
    code = error.get("code")
    return (code if isinstance(code, str) else None), str(error.get("message") or "")[:500]


def _deployment_of(answer: Any, name: str, model: str | None) -> Deployment:
    if not isinstance(answer, dict):
        raise RemoteError("deploy", "deployment answer is not an object", kind=TRANSIENT)
    properties = answer.get("properties") if isinstance(answer.get("properties"), dict) else {}
    assert isinstance(properties, dict)
    word = properties.get("provisioningState")
    described = properties.get("model") if isinstance(properties.get("model"), dict) else {}
    assert isinstance(described, dict)
    served = described.get("name") if isinstance(described.get("name"), str) else model
    sku = answer.get("sku") if isinstance(answer.get("sku"), dict) else {}
    assert isinstance(sku, dict)
    capacity = sku.get("capacity")
    return Deployment(
        name=str(answer.get("name") or name),
        model=str(served or ""),
        state=_DEPLOYMENT_STATE.get(str(word), str(word)),
        provider_state=str(word) if word is not None else None,
        sku=str(sku["name"]) if isinstance(sku.get("name"), str) else None,
        capacity=capacity if isinstance(capacity, int) else None,
    )
