"""A bound on the bytes any provider answer may bring, enforced while they arrive.

The SDK reads a whole answer into memory before it parses it, so a server
that sends a listing of a million events, or never ends its body, would cost
whatever memory it liked. Every client ftd opens reads through this
transport: an answer whose declared length is over the bound is refused
before its body is read, and one without a length is cut off at the first
byte past it; a compressed body is inflated here, so the bound holds for
what it becomes, not only for what crossed the wire. Either way the call
fails with a RemoteError that says so (not retried: the same request would
bring the same answer), and the connection is closed, not reused. File
downloads have a bound of their own, larger, since result files are read to
disk rather than into memory.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

import httpx2

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.providers.kinds import INVALID

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = get_logger("ftd.providers")

# JSON answers: a page of 100 jobs with full metadata is about 1 MiB; 8 MiB leaves room.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
# A file's content (result files): streamed to disk, never held whole.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
TOO_LARGE = "answer_too_large"


def too_large(what: str, limit: int) -> RemoteError:
    return RemoteError(
        "http_answer",
        f"{what}: over the {limit:,} bytes ftd reads from a provider",
        code=TOO_LARGE,
        kind=INVALID,
        retryable=False,
    )


def limit_for(request: httpx2.Request, answer_bytes: int, download_bytes: int) -> int:
    """The bound for one request: file contents get the download bound, the rest the answer's."""
    path = request.url.path.rstrip("/")
    return download_bytes if path.endswith("/content") else answer_bytes


def _decoder(encoding: str) -> Any:
    """A zlib decoder for the encodings ftd's clients accept (gzip, deflate); None: identity."""
    if encoding in ("", "identity"):
        return None
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return False


class _Bounded(httpx2.AsyncByteStream):
    """The body as the caller will read it (decompressed here, so the bound is on what it
    becomes, not on what crossed the wire: a small gzip can inflate to gigabytes)."""

    def __init__(self, inner: httpx2.AsyncByteStream, limit: int, what: str, decoder: Any) -> None:
        self._inner = inner
        self._limit = limit
        self._what = what
        self._decoder = decoder

    def _counted(self, seen: int) -> None:
        if seen > self._limit:
            log.warning("remote_answer_too_large", request=self._what, limit=self._limit)
            raise too_large(self._what, self._limit)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        decoder = self._decoder
        try:
            async for chunk in self._inner:
                data = chunk
                while data:
                    if decoder is None:
                        out, data = data, b""
                    else:
                        # Never inflate more than the bound allows from one chunk.
                        out = decoder.decompress(data, self._limit - seen + 1)
                        data = decoder.unconsumed_tail
                    seen += len(out)
                    self._counted(seen)
                    if out:
                        yield out
            if decoder is not None:
                out = decoder.flush()
                seen += len(out)
                self._counted(seen)
                if out:
                    yield out
        except zlib.error as exc:
            raise RemoteError(
                "http_answer", f"{self._what}: its compressed body is corrupt: {exc}", kind=INVALID
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class BoundedTransport(httpx2.AsyncBaseTransport):
    """Wraps a transport so no answer's body can exceed its bound."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        *,
        answer_bytes: int = MAX_ANSWER_BYTES,
        download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        self._inner = inner
        self._answer_bytes = answer_bytes
        self._download_bytes = download_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        limit = limit_for(request, self._answer_bytes, self._download_bytes)
        what = f"{request.method} {request.url.path}"
        encoding = response.headers.get("content-encoding", "").strip().lower()
        decoder = _decoder(encoding)
        if decoder is False:
            await response.aclose()
            raise RemoteError(
                "http_answer", f"{what}: an encoding ftd did not ask for ({encoding})", kind=INVALID
            )
        declared = response.headers.get("content-length", "")
        if decoder is None and declared.isdigit() and int(declared) > limit:
            await response.aclose()
            log.warning(
                "remote_answer_too_large", request=what, limit=limit, declared=int(declared)
            )
            raise too_large(what, limit)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        headers = response.headers.copy()
        if decoder is not None:
            # Decoded here: the client must not decode again, nor trust the wire's length.
            del headers["content-encoding"]
            headers.pop("content-length", None)
        return httpx2.Response(
            status_code=response.status_code,
            headers=headers,
            stream=_Bounded(response.stream, limit, what, decoder),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
