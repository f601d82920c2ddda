"""The webhook listener: only a signed, fresh, new call is a hint; polling slows while they come."""

from __future__ import annotations

import json
import socket
import time

import aiohttp
import anyio
import pytest

from ftd.config.notify import WebhooksSettings
from ftd.daemon.webhooks_in import SLOWDOWN, WebhookListener
from ftd.notify.send import sign, signing_key

pytestmark = pytest.mark.anyio
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _headers(
    msg_id: str, body: bytes, *, at: int | None = None, key: str = SECRET
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    signature = sign(signing_key(key), msg_id, stamp, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


async def test_signed_fresh_new_calls_hint_and_the_rest_are_refused() -> None:
    port = _port()
    settings = WebhooksSettings(listen=f"127.0.0.1:{port}", secret_env="HOOK", max_body_bytes=2048)
    hinted: list[str] = []
    listener = WebhookListener(settings, hinted.append, environ={"HOOK": SECRET})
    url = f"http://127.0.0.1:{port}{settings.path}"

    def event(n: int) -> bytes:
        return json.dumps(
            {"type": "fine_tuning.job.succeeded", "data": {"id": f"ftjob-{n}"}}
        ).encode()

    async with anyio.create_task_group() as tg:
        await tg.start(listener.run)
        async with aiohttp.ClientSession() as http:

            async def post(body: bytes, headers: dict[str, str]) -> int:
                async with http.post(url, data=body, headers=headers) as answer:
                    return answer.status

            assert await post(event(1), _headers("m1", event(1))) == 200
            assert await post(event(1), _headers("m1", event(1))) == 200  # a repeat: no hint
            assert await post(event(2), _headers("m2", event(1))) == 401  # signed another body
            assert await post(event(2), _headers("m2", event(2), key="whsec_AAAA")) == 401
            old = int(time.time()) - 400
            assert await post(event(2), _headers("m2", event(2), at=old)) == 400
            assert await post(event(2), {}) == 400
            big = b"{" + b" " * 4096 + b"}"
            assert await post(big, _headers("m3", big)) == 413
            assert listener.slowdown() == 1.0
            rotated = _headers("m4", event(4))
            rotated["webhook-signature"] = "v1,AAAA " + rotated["webhook-signature"]
            assert await post(event(4), rotated) == 200  # one of several signatures matches
            assert await post(event(5), _headers("m5", event(5))) == 200
        assert hinted == ["ftjob-1", "ftjob-4", "ftjob-5"]
        assert listener.slowdown() == SLOWDOWN
        tg.cancel_scope.cancel()
