"""Loopback receivers for notifications: a signed-webhook endpoint, a Slack stand-in, SMTP.

Each runs in a thread of the test process and records what it accepted, so a
test reads arrivals in order. The webhook receiver checks every signature the
way a Standard Webhooks consumer would and counts a bad one as a failure of
the sender, not as an arrival.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, Session


def _verify(key: bytes, headers: dict[str, str], body: bytes) -> bool:
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = headers.get("webhook-signature", "").split()
    fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
    return fresh and any(hmac.compare_digest(expected, g) for g in given)


class HttpReceiver:
    """POSTs recorded in arrival order; ``down`` answers 503 and records nothing."""

    def __init__(self, *, signing_key: bytes | None = None) -> None:
        self.arrivals: list[dict[str, Any]] = []
        self.refused = 0
        self.bad_signatures = 0
        self.down = False
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    if receiver.down:
                        receiver.refused += 1
                        status = 503
                    elif signing_key is not None and not _verify(signing_key, headers, body):
                        receiver.bad_signatures += 1
                        status = 401
                    else:
                        receiver.arrivals.append(
                            {"path": self.path, "headers": headers, "json": json.loads(body)}
                        )
                        status = 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Webhook arrivals of one ftd event kind (``type`` is ``ftd.KIND``)."""
        with self._lock:
            return [a for a in self.arrivals if a["json"].get("type") == f"ftd.{kind}"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl makes the SMTP receiver's certificate"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Collect:
    def __init__(self, sink: Callable[[dict[str, Any]], None]) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        mail = message_from_bytes(raw)
        payload = mail.get_payload(decode=True)
        self._sink(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(mail["Subject"]),
                "body": payload.decode() if isinstance(payload, bytes) else str(payload),
                "tls": session.ssl is not None,
                "authenticated": bool(session.authenticated),
            }
        )
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on loopback: STARTTLS required before AUTH and mail, one login accepted."""

    def __init__(self, directory: Path, *, username: str, password: str) -> None:
        self.mails: list[dict[str, Any]] = []
        self.cert, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(key))

        def authenticate(
            server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                getattr(data, "login", b"") == username.encode()
                and getattr(data, "password", b"") == password.encode()
            )
            return AuthResult(success=ok, handled=False)

        self._controller = Controller(
            _Collect(self.mails.append),
            hostname="127.0.0.1",
            port=_free_port(),
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=True,
        )
        self._controller.start()
        self.port = self._controller.port

    def close(self) -> None:
        self._controller.stop()
