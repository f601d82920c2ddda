"""Sending one notification to one destination: one attempt, within one total deadline.

Each sender returns an ``Answer`` instead of raising for what the destination
said, so the notifier can log and record every attempt the same way. Only the
first ``MAX_ANSWER_BYTES`` of an answer are read; redirects are not followed
(a signed body goes only where it was configured to go); every error message
has the destination's secret blanked before it leaves here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio

from ftd import __version__
from ftd.notify.message import render
from ftd.notify.secrets import SecretMissing, read_secret, redact

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ftd.config.notify import NotifyDestination
    from ftd.store.outbox import Notification

MAX_ANSWER_BYTES = 4096
USER_AGENT = f"ftd/{__version__}"


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    status: int | None  # HTTP status, or the SMTP reply code
    body: str  # the first bytes of what the destination said, or why it said nothing
    seconds: float


def message_id(notification: Notification) -> str:
    """Stable across retries, so a receiver can drop a repeat it already has."""
    return f"ftd_{int(notification.created_at * 1000)}_{notification.id}"


def webhook_body(notification: Notification) -> bytes:
    return json.dumps(
        {
            "type": f"ftd.{notification.kind}",
            "timestamp": _iso(notification.created_at),
            "data": {"subject": notification.subject, **notification.payload},
        },
        separators=(",", ":"),
        default=str,
    ).encode()


def signing_key(secret: str) -> bytes:
    """Standard Webhooks: ``whsec_`` and base64 is the key's bytes; any other text is used as is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            pass
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def slack_body(notification: Notification) -> bytes:
    message = render(notification.kind, notification.subject, notification.payload)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
    ]
    if message.lines:
        text = "\n".join(message.lines)[:2900]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{notification.kind} · {_iso(notification.created_at)}"}
            ],
        }
    )
    return json.dumps({"text": message.text[:3000], "blocks": blocks}).encode()


async def deliver(
    destination: NotifyDestination,
    notification: Notification,
    environ: Mapping[str, str] | None = None,
) -> Answer:
    """One attempt; never raises for the destination's failures, only for cancellation."""
    started = time.monotonic()
    secret: str | None = None
    try:
        secret = read_secret(destination.secret_env, destination.secret_credential, environ)
    except SecretMissing as exc:
        if destination.kind != "email" or destination.smtp_username is not None:
            return Answer(False, None, str(exc), 0.0)
    try:
        with anyio.fail_after(destination.timeout_seconds):
            if destination.kind == "email":
                status, body = await anyio.to_thread.run_sync(
                    _mail, destination, notification, secret, abandon_on_cancel=True
                )
            else:
                status, body = await _post(destination, notification, secret or "")
    except TimeoutError:
        status, body = None, f"no answer within {destination.timeout_seconds:g} s"
    except (aiohttp.ClientError, OSError, smtplib.SMTPException, ssl.SSLError, ValueError) as exc:
        status, body = _smtp_status(exc), f"{type(exc).__name__}: {exc}"
    ok = status is not None and (
        200 <= status < 300 if destination.kind != "email" else status == 250
    )
    return Answer(ok, status, redact(body, secret)[:MAX_ANSWER_BYTES], time.monotonic() - started)


def _ssl_context(destination: NotifyDestination) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if destination.ca_file is not None:
        context.load_verify_locations(cafile=str(destination.ca_file))
    return context


async def _post(
    destination: NotifyDestination, notification: Notification, secret: str
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if destination.kind == "webhook":
        assert destination.url is not None
        url = destination.url
        body = webhook_body(notification)
        msg_id, now = message_id(notification), int(time.time())
        headers |= {
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(signing_key(secret), msg_id, now, body),
        }
    else:
        url, body = secret, slack_body(notification)
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
            raise ValueError("the Slack credential does not hold an https:// URL")
    context = _ssl_context(destination) if url.startswith("https://") else False
    timeout = aiohttp.ClientTimeout(total=destination.timeout_seconds)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers, allow_redirects=False, ssl=context) as answer,
    ):
        raw = await answer.content.read(MAX_ANSWER_BYTES)
        return answer.status, raw.decode("utf-8", errors="replace")


def _mail(
    destination: NotifyDestination, notification: Notification, password: str | None
) -> tuple[int, str]:
    assert destination.smtp_host is not None
    assert destination.mail_from is not None
    message = render(notification.kind, notification.subject, notification.payload)
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = destination.mail_from
    mail["To"] = ", ".join(destination.mail_to)
    mail["Message-ID"] = f"<{message_id(notification)}@ftd>"
    mail.set_content(message.text + "\n")
    with smtplib.SMTP(
        destination.smtp_host, destination.smtp_port, timeout=destination.timeout_seconds
    ) as smtp:
        smtp.ehlo()
        if destination.smtp_security == "starttls":
            smtp.starttls(context=_ssl_context(destination))
            smtp.ehlo()
        if destination.smtp_username is not None and password is not None:
            smtp.login(destination.smtp_username, password)
        refused = smtp.send_message(mail)
        if refused:
            return 550, f"refused recipients: {', '.join(sorted(refused))}"
        return 250, f"accepted for {len(destination.mail_to)} recipient(s)"


def _smtp_status(exc: BaseException) -> int | None:
    code = getattr(exc, "smtp_code", None)
    return code if isinstance(code, int) else None


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
