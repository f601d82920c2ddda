"""One attempt at one destination: signatures, bounds, redirects, deadlines, missing secrets."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from aiohttp import web

from ftd.config.notify import NotifyDestination
from ftd.notify.secrets import SecretMissing, read_secret, redact
from ftd.notify.send import deliver, sign, signing_key, slack_body
from ftd.store.outbox import Notification

pytestmark = pytest.mark.anyio
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def test_the_signature_is_the_standard_webhooks_one() -> None:
    # The worked example of the Standard Webhooks specification.
    key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing_key("plain text") == b"plain text"


def test_slack_gets_one_readable_message_in_blocks() -> None:
    note = Notification(
        3, "job_failed", "job ftjob-1", {"job_id": "ftjob-1", "message": "bad file"}, 0.0
    )
    body = json.loads(slack_body(note))
    assert body["blocks"][0]["type"] == "header"
    assert "ftjob-1 failed" in body["blocks"][0]["text"]["text"]
    assert "bad file" in body["blocks"][1]["text"]["text"]
    assert "bad file" in body["text"]


def test_a_secret_comes_from_the_variable_then_the_credential(tmp_path: Any) -> None:
    (tmp_path / "cred").write_text("from-file\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "S": "from-env"}
    assert read_secret("S", "cred", env) == "from-env"
    assert read_secret("UNSET", "cred", env) == "from-file"
    with pytest.raises(SecretMissing, match=r"UNSET.*not set.*nope"):
        read_secret("UNSET", "nope", env)
    assert redact("GET https://x/T0/B1/secretpart failed", "secretpart") == (
        "GET https://x/T0/B1/[secret] failed"
    )


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/hook", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/hook"

    yield serve
    for runner in runners:
        await runner.cleanup()


def _hook(url: str, **extra: Any) -> NotifyDestination:
    return NotifyDestination.model_validate(
        {"name": "h", "kind": "webhook", "url": url, "secret_env": "HOOK", **extra}
    )


NOTE = Notification(7, "job_cancelled", "job ftjob-1", {"job_id": "ftjob-1"}, 1_700_000_000.0)


async def test_a_2xx_is_sent_with_a_signature_the_receiver_can_check(server: Any) -> None:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.Response(status=204)

    url = await server(ok)
    answer = await deliver(_hook(url), NOTE, {"HOOK": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    assert answer.ok, answer
    headers = seen[0].headers
    expected = sign(
        signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        headers["webhook-id"],
        int(headers["webhook-timestamp"]),
        bodies[0],
    )
    assert headers["webhook-signature"] == expected
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert json.loads(bodies[0])["type"] == "ftd.job_cancelled"


async def test_failures_are_answers_bounded_and_without_the_secret(server: Any) -> None:
    secret = "s3cret-value-that-must-not-show"

    async def huge(request: web.Request) -> web.Response:
        return web.Response(status=500, text=secret + "x" * 100_000)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:9/elsewhere")

    async def slow(request: web.Request) -> web.Response:
        await anyio.sleep(3)
        return web.Response()

    answer = await deliver(_hook(await server(huge)), NOTE, {"HOOK": secret})
    assert (answer.ok, answer.status) == (False, 500)
    assert len(answer.body) <= 4096
    assert secret not in answer.body
    redirected = await deliver(_hook(await server(moved)), NOTE, {"HOOK": secret})
    assert (redirected.ok, redirected.status) == (False, 302)  # not followed
    late = await deliver(_hook(await server(slow), timeout_seconds=0.5), NOTE, {"HOOK": secret})
    assert not late.ok
    assert "no answer within 0.5 s" in late.body
    missing = await deliver(_hook(await server(huge)), NOTE, {})
    assert not missing.ok
    assert "HOOK" in missing.body
