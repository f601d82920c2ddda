"""A chat completion read as plain JSON into a ``ChatAnswer``, every field doubted.

An evaluation sends thousands of requests; building the SDK's answer objects
for each cost a fifth of the daemon's time per request, and those objects are
constructed without validation, so their types were never assured anyway.
Only what ftd reads is taken: the first choice's text (content, else its tool
calls as JSON, else the refusal), its finish reason, the model and the usage.
A field of the wrong type reads as absent, a count as zero; a body that is
not a JSON object is a retryable error, as a garbled answer is.
"""

from __future__ import annotations

from typing import Any

import orjson

from ftd.errors import RemoteError
from ftd.providers.kinds import TRANSIENT
from ftd.providers.types import ChatAnswer

MAX_WORD = 256  # characters of a model name or a finish reason
# Token counts beyond any context window are not counts.
MAX_TOKENS = 10_000_000


def _word(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_WORD else None


def _tokens(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    return 0


def _call_text(call: object) -> dict[str, Any] | None:
    """A tool call in the SDK's own field order (id, function: arguments, name; type)."""
    if not isinstance(call, dict):
        return None
    function = call.get("function")
    if not isinstance(function, dict):
        return None
    arguments, name = function.get("arguments"), function.get("name")
    return {
        "id": call.get("id") if isinstance(call.get("id"), str) else None,
        "function": {
            "arguments": arguments if isinstance(arguments, str) else "",
            "name": name if isinstance(name, str) else "",
        },
        "type": call.get("type") if isinstance(call.get("type"), str) else "function",
    }


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        rendered = [c for c in map(_call_text, calls) if c is not None]
        if rendered:
            return orjson.dumps(rendered).decode()
    refusal = message.get("refusal")
    return refusal if isinstance(refusal, str) else ""


def answer_of(body: bytes) -> ChatAnswer:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RemoteError(
            "chat_completion", f"answer is not JSON: {exc}", kind=TRANSIENT, retryable=True
        ) from exc
    if not isinstance(answer, dict):
        raise RemoteError(
            "chat_completion", "answer is not a JSON object", kind=TRANSIENT, retryable=True
        )
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    usage = answer.get("usage")
    usage = usage if isinstance(usage, dict) else None
    return ChatAnswer(
        text=_text(message) if isinstance(message, dict) else "",
        prompt_tokens=_tokens(usage, "prompt_tokens") if usage else 0,
        completion_tokens=_tokens(usage, "completion_tokens") if usage else 0,
        finish_reason=_word(choice.get("finish_reason")),
        model=_word(answer.get("model")),
        usage=usage,
    )
