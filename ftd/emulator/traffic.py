"""What happens to every request before and after its handler: ids, auth, faults, limits, stats.

Faults and limits apply to the flavour's API routes only (``/v1`` for OpenAI,
see :class:`ApiSurface`), never to ``/_emulator``, so a test can always read
the stats or turn the faults off again. Decisions use one
seeded RNG, so a run with the same ``seed`` and the same request order sees the
same faults. Stats count what clients really sent, keyed by route template
(``GET /v1/fine_tuning/jobs/{id}``), including requests answered by a fault;
chat completions are also counted per distinct request body, so a client's
retries of one request can be told apart from its distinct requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ftd.emulator import ids
from ftd.emulator.apierrors import SERVER_ERROR, ApiError
from ftd.logs import get_logger

if TYPE_CHECKING:
    from ftd.emulator.settings import RuntimeConfig

log = get_logger(__name__)

NOMINAL_RPM = 10_000
NOMINAL_TPM = 2_000_000
WINDOW_S = 60.0
DROPPED = "dropped"
CHAT_ROUTE = "POST /v1/chat/completions"
# Distinct chat bodies remembered (8-byte digests); past this, new ones go uncounted.
MAX_CHAT_BODIES = 200_000
_SERVER_FAULTS = (
    (500, "The server had an error while processing your request. Sorry about that!"),
    (502, "Bad gateway."),
    (503, "The engine is currently overloaded, please try again later."),
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def format_duration(seconds: float) -> str:
    """Durations as the rate-limit headers write them: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


class Stats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.total = 0
        self.chat_bodies: Counter[bytes] = Counter()
        self.chat_uncounted = 0

    def request(self, route: str) -> None:
        self.requests[route] += 1
        self.total += 1

    def chat_body(self, body: bytes) -> None:
        """One more sending of this exact chat request (same model, messages, parameters)."""
        digest = hashlib.blake2b(body, digest_size=8).digest()
        if digest in self.chat_bodies or len(self.chat_bodies) < MAX_CHAT_BODIES:
            self.chat_bodies[digest] += 1
        else:
            self.chat_uncounted += 1

    def chat_repeats(self) -> dict[str, int]:
        """How many distinct chat bodies were sent once, twice, …: ``{"2": 5}`` is five twice."""
        histogram = Counter(self.chat_bodies.values())
        return {str(times): bodies for times, bodies in sorted(histogram.items())}

    def status(self, status: int | str) -> None:
        self.statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "total": self.total,
            "chat_repeats": self.chat_repeats(),
            "chat_uncounted": self.chat_uncounted,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.total = 0
        self.chat_bodies.clear()
        self.chat_uncounted = 0


class RequestWindow:
    """A sliding one-minute window of admitted requests, for a real per-minute limit."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._times: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - WINDOW_S:
            self._times.popleft()

    def admit(self, limit: int | None) -> tuple[bool, dict[str, str], float]:
        """Whether a request may pass, the rate-limit headers, and the wait if it may not."""
        now = self._clock()
        self._trim(now)
        nominal = NOMINAL_RPM if limit is None else limit
        allowed = limit is None or len(self._times) < limit
        wait = 0.0
        if allowed:
            self._times.append(now)
        elif self._times:
            wait = self._times[0] + WINDOW_S - now
        reset = (self._times[-1] + WINDOW_S - now) if self._times else 0.0
        headers = {
            "x-ratelimit-limit-requests": str(nominal),
            "x-ratelimit-remaining-requests": str(max(0, nominal - len(self._times))),
            "x-ratelimit-reset-requests": format_duration(wait if not allowed else reset),
            "x-ratelimit-limit-tokens": str(NOMINAL_TPM),
            "x-ratelimit-remaining-tokens": str(NOMINAL_TPM),
            "x-ratelimit-reset-tokens": "0s",
        }
        return allowed, headers, wait


def rate_limited(headers: dict[str, str], wait_s: float, limit: int) -> ApiError:
    wait_ms = max(1, math.ceil(wait_s * 1000))
    limited = dict(headers)
    limited.update(
        {
            "retry-after": str(max(1, math.ceil(wait_s))),
            "retry-after-ms": str(wait_ms),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": format_duration(wait_s),
        }
    )
    return ApiError(
        429,
        f"Rate limit reached for requests. Limit: {limit} / min. "
        f"Please try again in {format_duration(wait_s)}.",
        type="requests",
        code="rate_limit_exceeded",
        headers=limited,
    )


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(error: ApiError) -> web.Response:
    response = json_response(error.body(), error.status)
    response.headers.update(error.headers)
    return response


def _check_auth(request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401, "Incorrect API key provided. Use Bearer authentication.", code="invalid_api_key"
        )


def refused_key(request: web.Request) -> ApiError:
    """OpenAI's answer to a key it does not know: the key masked but for its ends."""
    key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    masked = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "*" * len(key)
    return ApiError(
        401,
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


class ApiSurface:
    """What the pipeline asks a flavour: which paths are API, how auth and errors look.

    This default is the OpenAI flavour; another flavour (see
    :mod:`ftd.emulator.azure`) passes a subclass, so faults, limits and stats
    stay one implementation for every flavour.
    """

    chat_routes: frozenset[str] = frozenset({CHAT_ROUTE})

    def is_api(self, path: str) -> bool:
        return path == "/v1" or path.startswith("/v1/")

    def check_auth(self, request: web.Request) -> None:
        _check_auth(request)

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        return error_response(error)

    def answer_headers(self, request: web.Request, request_id: str) -> dict[str, str]:
        return {"x-request-id": request_id}


class Traffic:
    """The request pipeline's shared state: config, stats, limiter and the fault RNG."""

    def __init__(self, config: RuntimeConfig, surface: ApiSurface | None = None) -> None:
        self.config = config
        self.surface = surface or ApiSurface()
        self.stats = Stats()
        self.window = RequestWindow()
        self._seed = config.seed
        self._rng = random.Random(config.seed)

    def rng(self) -> random.Random:
        if self.config.seed != self._seed:
            self._seed = self.config.seed
            self._rng = random.Random(self._seed)
        return self._rng

    async def _faults(self, request: web.Request) -> dict[str, str]:
        """Apply latency and faults; returns the rate-limit headers of a request let through."""
        config = self.config
        rng = self.rng()
        delay_ms = config.latency_ms + (rng.uniform(0, config.jitter_ms) if config.jitter_ms else 0)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        self.surface.check_auth(request)
        if config.refuse_keys:
            raise refused_key(request)
        allowed, headers, wait = self.window.admit(config.rpm_limit)
        if not allowed:
            raise rate_limited(headers, wait, config.rpm_limit or NOMINAL_RPM)
        if config.rate_limit_rate and rng.random() < config.rate_limit_rate:
            raise rate_limited(
                headers, config.retry_after_ms / 1000, config.rpm_limit or NOMINAL_RPM
            )
        if config.error_rate and rng.random() < config.error_rate:
            status, message = _SERVER_FAULTS[rng.randrange(len(_SERVER_FAULTS))]
            raise ApiError(status, message, type=SERVER_ERROR, headers=headers)
        return headers

    def should_drop(self) -> bool:
        return bool(self.config.drop_rate) and self.rng().random() < self.config.drop_rate

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = ids.new_id("req_", 32)
        surface = self.surface
        api = surface.is_api(request.path)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(unmatched)"
        started = time.perf_counter()
        if api:
            self.stats.request(f"{request.method} {route}")
            if f"{request.method} {route}" in surface.chat_routes:
                self.stats.chat_body(await request.read())
        headers: dict[str, str] = {}
        try:
            if api and self.should_drop():
                self.stats.status(DROPPED)
                log.debug("request_dropped", method=request.method, route=route)
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=499)
            if api:
                headers = await self._faults(request)
            response = await handler(request)
            if api and self.config.answer_delay_ms > 0:
                await asyncio.sleep(self.config.answer_delay_ms / 1000)
        except ApiError as error:
            response = surface.error_response(request, error)
        except web.HTTPException as exc:
            response = surface.error_response(
                request,
                ApiError(exc.status, f"Invalid URL ({request.method} {request.path})")
                if exc.status in (404, 405)
                else ApiError(exc.status, exc.reason),
            )
        except Exception:
            log.exception("request_failed", method=request.method, route=route)
            response = surface.error_response(
                request, ApiError(500, _SERVER_FAULTS[0][1], type=SERVER_ERROR)
            )
        response.headers.update(headers)
        response.headers.update(surface.answer_headers(request, request_id))
        response.headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
        if api:
            self.stats.status(response.status)
        log.debug(
            "request_answered",
            method=request.method,
            route=route,
            status=response.status,
            request_id=request_id,
        )
        return response
