"""What a failed provider call means for its caller: one vocabulary for every adapter.

Each adapter maps its provider's errors onto these kinds (``classify``); the
callers decide by kind alone, so a retry rule or a state change is written
once, not per provider.
"""

from __future__ import annotations

import random

TRANSIENT = "transient"  # try again later; for a create, look the object up first
RATE_LIMITED = "rate_limited"  # try again after retry_after
CAPPED = "capped"  # the provider's job caps (concurrent or daily): wait longer
QUOTA = "quota"  # billing; retrying never helps until a person acts
BLOCKED = "blocked"  # training not available to this account: permanent
AUTH = "auth"
NOT_FOUND = "not_found"
INVALID = "invalid"  # the request itself is wrong
NOT_READY = "not_ready"  # a deployment exists but does not answer yet: wait and ask again
UNSUPPORTED = "unsupported"  # this provider cannot do that at all

MAX_RETRY_AFTER = 120.0


def backoff(attempt: int, base: float, ceiling: float, *, jitter: float = 0.25) -> float:
    """``base * 2**attempt`` up to ``ceiling``, less a random share of up to ``jitter``."""
    delay: float = min(ceiling, base * 2.0 ** max(0, attempt))
    return delay * (1 - jitter * random.random())


def retry_after_seconds(headers: object) -> float | None:
    """The wait a provider asked for (``retry-after-ms`` or ``retry-after``), if sane."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except (TypeError, ValueError):
            continue
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return None
