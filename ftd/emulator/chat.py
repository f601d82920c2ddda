"""Deterministic chat completions: fine-tuned models echo their training, bases stay generic.

The same (model, messages, parameters) always gives the same answer, so a
test or an evaluation run is reproducible. A fine-tuned model (or one of its
checkpoints) answers with the reply of the training example whose prompt is
closest to the last user message (for DPO, the preferred output); a base
model answers politely and vaguely, restating a few words of the question.
Judge prompts (see :mod:`ftd.emulator.judge`) get verdicts instead.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

import orjson

from ftd.emulator import ids, judge, textsim, tokens
from ftd.emulator.apierrors import bad_request
from ftd.emulator.schema_instance import build_instance
from ftd.emulator.trainingdata import DatasetSummary, Example

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ftd.emulator.jobs import JobService
    from ftd.emulator.models import ModelDirectory, ServedModel

_BASE_TEMPLATES = (
    "Thanks for reaching out about {topic}. I'd be happy to help. Could you share a few more "
    "details so I can look into it? In the meantime, checking the relevant settings and "
    "trying again often resolves similar issues.",
    "Great question regarding {topic}. Generally speaking, the answer depends on your specific "
    "situation. I recommend reviewing the available documentation and, if the problem "
    "persists, contacting the appropriate team for further assistance.",
    "I understand you're asking about {topic}. While I don't have all the specifics, a good "
    "first step is to review the details involved and try the standard troubleshooting "
    "steps. Let me know if there's anything else I can help with.",
)
_ANSWER_KEYS = ("answer", "response", "reply", "content", "text", "message", "output", "result")


def text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def base_reply(prompt: str) -> str:
    """A plausible, generic answer that restates a few words of the question."""
    seen: dict[str, None] = {}
    for word in textsim.words(prompt):
        if len(word) > 3:
            seen.setdefault(word, None)
    picked = sorted(seen, key=lambda w: (-len(w), w))[:3]
    topic = " and ".join(picked) if picked else "your question"
    digest = hashlib.sha256(prompt.encode()).digest()
    return _BASE_TEMPLATES[digest[0] % len(_BASE_TEMPLATES)].format(topic=topic)


class ChatIndex:
    """Training prompts as word sets, for nearest-prompt lookup."""

    def __init__(self, examples: tuple[Example, ...]) -> None:
        self._entries = [(frozenset(textsim.words(e.prompt)), e.reply) for e in examples if e.reply]

    def nearest(self, prompt: str) -> str | None:
        query = frozenset(textsim.words(prompt))
        best, best_score = None, -1.0
        for words, reply in self._entries:
            union = len(words | query)
            score = len(words & query) / union if union else 1.0
            if score > best_score:
                best, best_score = reply, score
        return best


def _int_param(body: Mapping[str, Any], name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad_request(f"{name} must be an integer of at least {low}", param=name)
    return value


class ChatEngine:
    def __init__(
        self, jobs: JobService, models: ModelDirectory, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._jobs = jobs
        self._models = models
        self._clock = clock
        self._indexes: dict[tuple[str, str], ChatIndex] = {}

    async def _fine_tuned_reply(self, served: ServedModel, prompt: str) -> str | None:
        job = served.job
        assert job is not None
        key = (job.training_file, job.method)
        index = self._indexes.get(key)
        if index is None:
            try:
                summary = await self._jobs.datasets.inspect(
                    job.training_file, job.method, job.base_model, "training_file"
                )
            except (KeyError, FileNotFoundError):
                return None  # the training bytes are gone; answer like the base model
            if not isinstance(summary, DatasetSummary):
                return None
            index = self._indexes[key] = ChatIndex(summary.examples)
        return index.nearest(prompt)

    async def complete(self, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad_request("you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad_request("messages must be a non-empty array", param="messages")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise bad_request(
                    f"messages[{i}] must be an object with a role", param=f"messages[{i}]"
                )
        temperature = body.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not 0 <= temperature <= 2
        ):
            raise bad_request("temperature must be a number between 0 and 2", param="temperature")
        _int_param(body, "n", 1)
        _int_param(body, "seed", -(2**63))
        # The spec sets no minimum: 0 is a valid bound and yields an empty, cut-off answer.
        limit = _int_param(body, "max_completion_tokens", 0)
        if limit is None:
            limit = _int_param(body, "max_tokens", 0)
        response_format = body.get("response_format") or {"type": "text"}
        if not isinstance(response_format, dict) or response_format.get("type") not in (
            "text",
            "json_object",
            "json_schema",
        ):
            raise bad_request(
                "response_format.type must be text, json_object or json_schema",
                param="response_format",
            )
        served = self._models.served(model)
        conversation = "\n".join(text_of(m.get("content")) for m in messages)
        prompt = next(
            (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
            conversation,
        )
        content = await self._answer(served, conversation, prompt, response_format)
        finish = "stop"
        if limit is not None:
            truncated, _count = tokens.truncate(content, served.base, limit)
            finish = "length" if truncated != content else "stop"
            content = truncated
        return self._response(served, messages, content, finish)

    async def _answer(
        self, served: ServedModel, conversation: str, prompt: str, response_format: dict[str, Any]
    ) -> str:
        verdict = judge.judge(conversation)
        kind = response_format.get("type")
        if verdict is not None:
            if kind == "json_schema":
                schema = _schema_of(response_format)
                return _dumps(build_instance(schema, verdict.suggest))
            return _dumps(verdict.as_object())
        reply = None
        if served.job is not None:
            reply = await self._fine_tuned_reply(served, prompt)
        if reply is None:
            reply = base_reply(prompt)
        if kind == "text":
            return reply
        parsed = _as_object(reply)
        if kind == "json_object":
            return _dumps(parsed if parsed is not None else {"answer": reply})
        hints = parsed or {}

        def suggest(name: str | None, schema: Mapping[str, Any]) -> object:
            if name is not None and name in hints:
                return hints[name]
            if schema.get("type") == "string" or name in _ANSWER_KEYS:
                return reply
            return None

        return _dumps(build_instance(_schema_of(response_format), suggest))

    def _response(
        self, served: ServedModel, messages: list[dict[str, Any]], content: str, finish: str
    ) -> dict[str, Any]:
        prompt_tokens = tokens.REPLY_PRIMING + sum(
            tokens.MESSAGE_OVERHEAD + tokens.count(text_of(m.get("content")), served.base)
            for m in messages
        )
        completion_tokens = tokens.count(content, served.base)
        return {
            "id": ids.new_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(self._clock()),
            "model": served.base if served.job is None else served.name,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        }


def _schema_of(response_format: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise bad_request(
            "response_format.json_schema must be an object with a name", param="response_format"
        )
    schema = spec.get("schema") or {"type": "object"}
    if not isinstance(schema, dict):
        raise bad_request(
            "response_format.json_schema.schema must be an object", param="response_format"
        )
    return schema


def _as_object(text: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
