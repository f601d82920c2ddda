"""Reading request bodies and query strings, with 400s that name the offending field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ftd.emulator.apierrors import bad_request

if TYPE_CHECKING:
    from aiohttp import web


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            f"aren't using your HTTP library correctly.) {exc}"
        ) from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got '{raw}'", param=name) from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}, got {value}", param=name)
    return value


def query_choice(request: web.Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name) or default
    if value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}, got '{value}'", param=name)
    return value


def metadata_filter(request: web.Request) -> tuple[dict[str, str], bool]:
    """``metadata[k]=v`` pairs, and whether ``metadata=null`` asked for jobs without any."""
    pairs = {
        key[len("metadata[") : -1]: value
        for key, value in request.query.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    without = request.query.get("metadata") == "null"
    if pairs and without:
        raise bad_request(
            "metadata=null cannot be combined with metadata[key] filters", param="metadata"
        )
    return pairs, without
