"""The provider's webhooks in: a verified call is a hint to look at a job now, no more.

OpenAI signs its webhooks the Standard Webhooks way: ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` (``v1,`` and the base64
HMAC-SHA256 of ``id.timestamp.body``, several space-separated when a secret
is being rotated). A call is refused unless one signature matches, its
timestamp is within the tolerance of now (a replayed old call is stale) and
its id is new. A verified call only wakes the tracker: the job's state is
read from the provider as always, so a forged or lost webhook changes nothing
but timing. While webhooks arrive, polling slows down (``slowdown``).
"""

from __future__ import annotations

import hmac
import json
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import anyio
from aiohttp import web

from ftd.logs import get_logger
from ftd.notify.secrets import SecretMissing, read_secret
from ftd.notify.send import sign, signing_key

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from anyio.abc import TaskStatus

    from ftd.config.notify import WebhooksSettings

log = get_logger("ftd.webhooks")
SEEN_IDS = 4096
RELIABLE_WINDOW_SECONDS = 1800.0
RELIABLE_COUNT = 3
SLOWDOWN = 4.0


class WebhookListener:
    def __init__(
        self,
        settings: WebhooksSettings,
        hint: Callable[[str], None],
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._hint = hint
        self._environ = environ
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._arrivals: deque[float] = deque(maxlen=64)

    def slowdown(self) -> float:
        """How much longer the tracker may wait: more while webhooks keep arriving."""
        now = time.monotonic()
        recent = [t for t in self._arrivals if now - t < RELIABLE_WINDOW_SECONDS]
        return SLOWDOWN if len(recent) >= RELIABLE_COUNT else 1.0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        assert self._settings.listen is not None
        host, _, port = self._settings.listen.rpartition(":")
        app = web.Application(client_max_size=self._settings.max_body_bytes)
        app.router.add_post(self._settings.path, self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host.strip("[]"), int(port))
            await site.start()
            log.info("webhooks_listening", address=self._settings.listen, path=self._settings.path)
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        limit = self._settings.max_body_bytes
        if (request.content_length or 0) > limit:
            return self._refuse(request, 413, "too_large", "body over the limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(16_384):
            size += len(chunk)
            if size > limit:
                return self._refuse(request, 413, "too_large", "body over the limit")
            chunks.append(chunk)
        body = b"".join(chunks)
        msg_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "")
        signatures = request.headers.get("webhook-signature", "")
        if not msg_id or not stamp or not signatures:
            return self._refuse(request, 400, "missing_headers", "webhook-* headers missing")
        try:
            timestamp = int(stamp)
        except ValueError:
            return self._refuse(request, 400, "bad_timestamp", "webhook-timestamp is no integer")
        skew = self._clock() - timestamp
        if abs(skew) > self._settings.tolerance_seconds:
            return self._refuse(request, 400, "stale", f"timestamp {skew:+.0f} s from now")
        try:
            secret = read_secret(
                self._settings.secret_env, self._settings.secret_credential, self._environ
            )
        except SecretMissing as exc:
            log.error("webhook_secret_missing", error=str(exc))
            return web.Response(status=503, text="not configured")
        expected = sign(signing_key(secret), msg_id, timestamp, body)
        if not any(hmac.compare_digest(expected, given) for given in signatures.split()):
            return self._refuse(request, 401, "bad_signature", "no signature matches")
        if msg_id in self._seen:
            log.info("webhook_repeat", webhook_id=msg_id)
            return web.Response(status=200, text="seen")
        self._seen[msg_id] = None
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        event = _parse(body)
        kind = str(event.get("type", ""))
        data = event.get("data")
        job_id = data.get("id") if isinstance(data, dict) else None
        log.info("webhook_received", webhook_id=msg_id, type=kind, job_id=job_id)
        if kind.startswith("fine_tuning.job.") and isinstance(job_id, str):
            self._arrivals.append(time.monotonic())
            self._hint(job_id)
        return web.Response(status=200, text="ok")

    def _refuse(self, request: web.Request, status: int, reason: str, detail: str) -> web.Response:
        log.warning(
            "webhook_refused",
            reason=reason,
            detail=detail,
            remote=request.remote,
            webhook_id=request.headers.get("webhook-id", "")[:100] or None,
        )
        return web.Response(status=status, text=reason)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
