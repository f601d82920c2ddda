"""Serving fine-tuned models where the provider needs it, for their evaluation, then tearing down.

On Azure a fine-tuned model answers nothing until it is deployed. For each
succeeded job at such a profile that will be evaluated, the deployer writes
the intent (a row named by the dataset's tag: one name per model, so asking
again can never make a second deployment), asks the provider, waits for it to
be provisioned and then for chat calls to stop answering "not ready", and
lets the evaluation start. Once the evaluation has ended the deployment is
deleted, unless it is to be kept (``keep_deployments`` or ``ftd keep``). The
base model (and the judge, where a grader asks one) is deployed the same way
unless the profile names a deployment for it, and removed when no candidate
at that profile waits for its evaluation. Every
turn starts from the rows, so a restart after a crash at any instant
finishes or tears down what was under way.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import anyio

from ftd.daemon.hosting import hosting_of
from ftd.errors import FtdError, RemoteError
from ftd.logs import get_logger
from ftd.providers.kinds import NOT_READY
from ftd.store import deployments as rows_of
from ftd.tags import dataset_tag

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from ftd.config import Settings
    from ftd.providers import Provider, Providers
    from ftd.store import Store
    from ftd.store.deployments import DeploymentRow

log = get_logger("ftd.daemon.deployments")
PROBE = [{"role": "user", "content": "Reply with OK."}]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class _Tagged:
    def __init__(self, sha256: str, tag: str) -> None:
        self.sha256, self.tag = sha256, tag


def candidate_name(sha256: str, tag: str) -> str:
    """A job's deployment: named by its dataset's tag, found again by it after a crash."""
    return _UNSAFE.sub("-", "ftd-" + dataset_tag(_Tagged(sha256, tag)))[:64]


def base_name(model: str) -> str:
    """The deployment ftd makes of a base model, shared by the evaluations that need it."""
    return _UNSAFE.sub("-", f"ftd-base-{model}")[:64]


class Deployer:
    def __init__(
        self,
        store: Store,
        providers: Providers,
        settings: Callable[[], Settings],
        *,
        on_ready: Callable[[], None],
        poll_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._providers = providers
        self._settings = settings
        self._on_ready = on_ready
        self._poll = poll_seconds
        self._clock = clock
        self._wakeup = anyio.Event()
        self._unconfigured: set[str] = set()
        # (profile, model) pairs the provider serves without a deployment (asked once a life).
        self._serverless: set[tuple[str, str]] = set()

    def wake(self) -> None:
        self._wakeup.set()

    def _profiles(self) -> list[str]:
        return [
            name
            for name in self._settings().profiles
            if self._providers.get(name).capabilities.needs_deployment
        ]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._wakeup = anyio.Event()
            try:
                await self.turn()
            except Exception:
                log.exception("deployer_error")  # one bad turn must not stop the daemon
            with anyio.move_on_after(self._poll):
                await self._wakeup.wait()

    async def turn(self) -> None:
        profiles = self._profiles()
        if not profiles:
            return
        for job in await rows_of.wanting_deployment(self._store, profiles):
            await self._intend(job)
        for checkpoint in await rows_of.checkpoints_wanting_deployment(self._store, profiles):
            await self._intend_checkpoint(checkpoint)
        # A shared deployment torn down while a candidate still waits is made again.
        for profile, base in await rows_of.bases_still_wanted(self._store, profiles):
            if hosting_of(self._settings().profile(profile)).can_deploy:
                await self._intend_shared(profile, base)
        for row in await rows_of.live(self._store):
            if row.provider not in profiles:
                continue
            try:
                await self._advance(row)
            except RemoteError as error:
                log.warning(
                    "deployment_call_failed",
                    name=row.name,
                    provider=row.provider,
                    state=row.state,
                    error=str(error),
                )

    async def servable(self, job_id: str, profile: str, base_model: str, model: str) -> bool:
        """Whether an evaluation of ``model`` (the job's, or a checkpoint's) can ask every
        model it needs now."""
        if profile not in self._profiles():
            return True
        candidates = [r for r in await rows_of.of_job(self._store, job_id) if r.model == model]
        serverless = not candidates and (profile, model) in self._serverless
        if not serverless and (not candidates or any(r.state != rows_of.READY for r in candidates)):
            return False
        hosting = hosting_of(self._settings().profile(profile))
        if not hosting.shared:
            return True
        configured = hosting.configured
        for model in self._shared_models(base_model):
            if model in configured:
                continue
            shared = await rows_of.named(self._store, profile, base_name(model))
            if shared is None or shared.state != rows_of.READY:
                return False
        return True

    def _shared_models(self, base_model: str) -> list[str]:
        """The base model, and the judge where a grader asks one."""
        evaluation = self._settings().evaluation
        models = [base_model]
        if {"judge", "pairwise"} & set(evaluation.graders):
            models.append(evaluation.judge_model)
        return list(dict.fromkeys(models))

    # ------------------------------------------------------------------ intent

    async def _intend(self, job: dict[str, object]) -> None:
        profile = str(job["provider"])
        settings = hosting_of(self._settings().profile(profile))
        if (profile, str(job["model"])) in self._serverless:
            return
        if await self._providers.get(profile).served_without_deployment(str(job["model"])):
            self._serverless.add((profile, str(job["model"])))
            log.info("deployment_not_needed", provider=profile, model=job["model"])
            self._on_ready()
            return
        if not settings.can_deploy:
            if profile not in self._unconfigured:
                self._unconfigured.add(profile)
                log.warning(
                    "deployment_not_configured",
                    provider=profile,
                    job_id=job["job_id"],
                    reason="set azure.subscription_id, resource_group and account (Azure) or "
                    "together.endpoint_hardware (Together) so that ftd can serve fine-tuned "
                    "models for their evaluation",
                )
            return
        model, base = str(job["model"]), str(job["base_model"])
        name = candidate_name(str(job["sha256"]), str(job["tag"]))
        await rows_of.intend(
            self._store,
            provider=profile,
            name=name,
            model=model,
            role=rows_of.CANDIDATE,
            job_id=str(job["job_id"]),
            keep=settings.keep,
            hourly_usd=settings.hourly_usd,
        )
        await self._intend_shared(profile, base)
        log.info("deployment_intended", provider=profile, name=name, model=model)

    async def _intend_shared(self, profile: str, base: str) -> None:
        """The base model's (and judge's) deployments, made again if they went meanwhile."""
        settings = hosting_of(self._settings().profile(profile))
        if not settings.shared:
            return
        for shared in self._shared_models(base):
            if shared in settings.configured:
                continue
            await rows_of.intend(
                self._store,
                provider=profile,
                name=base_name(shared),
                model=shared,
                role=rows_of.BASE,
                job_id=None,
                keep=settings.keep,
                hourly_usd=settings.hourly_usd,
            )

    async def _intend_checkpoint(self, checkpoint: dict[str, object]) -> None:
        """A checkpoint to be evaluated is deployed like the job's final model."""
        profile = str(checkpoint["provider"])
        settings = hosting_of(self._settings().profile(profile))
        if not settings.can_deploy:
            return
        name = candidate_name(str(checkpoint["sha256"]), str(checkpoint["tag"]))
        name = f"{name[:56]}-s{checkpoint['step']}"
        await rows_of.intend(
            self._store,
            provider=profile,
            name=name,
            model=str(checkpoint["model"]),
            role=rows_of.CANDIDATE,
            job_id=str(checkpoint["job_id"]),
            keep=settings.keep,
            hourly_usd=settings.hourly_usd,
        )
        log.info("deployment_intended", provider=profile, name=name, model=checkpoint["model"])

    # ------------------------------------------------------------------ progress

    async def _advance(self, row: DeploymentRow) -> None:
        provider = self._providers.get(row.provider)
        if row.state == rows_of.INTENDED:
            log.info(
                "deployment_requested",
                provider=row.provider,
                name=row.name,
                model=row.model,
                role=row.role,
            )
            await provider.deploy(row.name, row.model)
            await rows_of.move(self._store, row, rows_of.CREATING)
        elif row.state == rows_of.CREATING:
            await self._creating(provider, row)
        elif row.state == rows_of.READY:
            if await self._done_with(row):
                log.info("deployment_teardown", provider=row.provider, name=row.name)
                await rows_of.move(self._store, row, rows_of.DELETING)
                self.wake()
        elif row.state == rows_of.DELETING:
            await provider.undeploy(row.name)
            if await provider.deployment(row.name) is None:
                await rows_of.move(self._store, row, rows_of.DELETED)
                log.info("deployment_deleted", provider=row.provider, name=row.name)

    async def _creating(self, provider: Provider, row: DeploymentRow) -> None:
        timeout = hosting_of(self._settings().profile(row.provider)).ready_timeout
        if self._clock() - row.created_at > timeout:
            message = f"not answering after {timeout:g} s"
            log.warning("deployment_timed_out", provider=row.provider, name=row.name)
            await rows_of.move(self._store, row, rows_of.DELETING, error=message)
            return
        found = await provider.deployment(row.name)
        if found is None:  # the request never arrived (or was lost): ask again, same name
            await provider.deploy(row.name, row.model)
            return
        if found.state == "failed":
            message = f"the provider says {found.provider_state}"
            log.warning("deployment_failed", provider=row.provider, name=row.name, state=message)
            await rows_of.move(self._store, row, rows_of.DELETING, error=message)
            return
        if found.state != "succeeded":
            return
        try:
            await provider.chat(
                model=row.name,
                messages=PROBE,
                params={"max_completion_tokens": 1},
                request_timeout=30.0,
            )
        except RemoteError as error:
            if error.kind != NOT_READY:
                log.info("deployment_probe_failed", name=row.name, error=str(error))
            return
        if await rows_of.move(self._store, row, rows_of.READY):
            log.info("deployment_ready", provider=row.provider, name=row.name, model=row.model)
            self._on_ready()

    async def _done_with(self, row: DeploymentRow) -> bool:
        if row.keep:
            return False
        if row.role == rows_of.CANDIDATE:
            return row.job_id is not None and await rows_of.evaluation_finished(
                self._store, row.job_id, row.model
            )
        return not await rows_of.shared_still_needed(self._store, row.provider)


async def keep(store: Store, model: str, *, kept: bool = True) -> list[DeploymentRow]:
    """``ftd keep MODEL``: its deployments outlive their evaluation (or no longer)."""
    changed = await rows_of.set_keep(store, model, kept)
    if not changed:
        raise FtdError(f"no live deployment of {model} (see `ftd status`)")
    return changed
