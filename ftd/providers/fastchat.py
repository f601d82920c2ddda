"""Chat completions, embeddings and list pages sent over aiohttp: many small requests, cheaply.

An evaluation sends thousands of completions, as many at once as the limits
allow; through the SDK each cost the daemon milliseconds of CPU (its request
building walks every message, httpx's pool scans every connection per
request), which capped an evaluation at a hundred-odd items a second however
fast the provider. This sends the same request, with the headers the SDK's
client would send (its key, organisation and project included), and reads
the answer as plain JSON. Failures are the SDK path's: an HTTP error becomes
the same RemoteError through the adapter's own mapping, a dropped connection
a retryable transient one; the total deadline is the caller's.

The tracker's list pages (a job list page per hundred jobs, and as many
event pages, every cycle) go the same way for the same reason: at 10,000
jobs the SDK's request building and connection pool cost the daemon about
a second of CPU a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from ftd.errors import RemoteError
from ftd.providers import rawanswer, rawpages
from ftd.providers.kinds import TRANSIENT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ftd.providers.types import ChatAnswer

OPERATION = "chat_completion"
CHUNK = 64 * 1024
# Connections kept open to the provider: the evaluation's concurrency tops out below it.
MAX_CONNECTIONS = 256


def _failure(raw: bytes) -> tuple[str | None, str]:
    """(code, message) of an error answer, however little of it is well formed."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, raw[:200].decode("utf-8", "replace")
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return None, raw[:200].decode("utf-8", "replace")
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else None), (
        message[:2000] if isinstance(message, str) else ""
    )


class ChatSession:
    """One provider's completions and list endpoints, its connections kept between requests."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        http_error: Callable[[str, int, str | None, str, object], RemoteError],
        observe: Callable[[Mapping[str, str]], None],
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._json = {"Content-Type": "application/json"}
        self._http_error = http_error
        self._observe = observe
        self._session: aiohttp.ClientSession | None = None
        # One per deadline in use (the configured one, nearly always): aiohttp's timeout
        # objects are immutable, and building one per request took 3 % of the pool's samples.
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        found = self._timeouts.get(seconds)
        if found is None:
            if len(self._timeouts) >= 16:
                self._timeouts.clear()
            found = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return found

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                headers=self._headers,
            )
        return self._session

    async def complete(self, body: dict[str, Any], request_timeout: float) -> ChatAnswer:
        raw = await self._exchange(
            "POST", self._base + "/chat/completions", OPERATION, request_timeout, data=body
        )
        return rawanswer.answer_of(raw)

    async def post(
        self, path: str, body: dict[str, Any], request_timeout: float, operation: str
    ) -> bytes:
        """One POST under the base URL: the answer's bytes (bounded), or its RemoteError."""
        return await self._exchange(
            "POST", self._base + path, operation, request_timeout, data=body
        )

    async def page(
        self, path: str, query: Mapping[str, str], operation: str, request_timeout: float
    ) -> bytes:
        """The body of a GET of ``path`` (under the base URL), bounded like every page."""
        return await self._exchange(
            "GET", self._base + path, operation, request_timeout, params=query
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        operation: str,
        request_timeout: float,
        *,
        data: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> bytes:
        try:
            async with self._opened().request(
                method,
                url,
                data=None if data is None else orjson.dumps(data),
                params=params,
                headers=self._json if data is not None else None,
                timeout=self._timeout(request_timeout),
            ) as response:
                raw = await rawpages.bounded_body(response.content.iter_chunked(CHUNK), operation)
                self._observe(response.headers)
                status, headers = response.status, response.headers
        except aiohttp.ClientError as exc:
            raise RemoteError(
                operation,
                f"connection failed ({type(exc).__name__})",
                kind=TRANSIENT,
                retryable=True,
            ) from exc
        if status >= 400:
            code, message = _failure(raw)
            raise self._http_error(operation, status, code, message, headers)
        return raw

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
