"""An embeddings answer read as plain JSON into ``Embeddings``, every vector doubted.

The vectors are what a ``cosine`` grader's score is computed from, so an
answer is taken only whole: one vector per input, each placed by its
``index`` (each index once), all of one length within ``MAX_DIMENSIONS``,
every coordinate a finite number. Anything else is a retryable error, as a
garbled answer is; a usage count of the wrong type reads as zero.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from ftd.errors import RemoteError
from ftd.providers.kinds import TRANSIENT
from ftd.providers.rawanswer import MAX_TOKENS, MAX_WORD
from ftd.providers.types import Embeddings

OPERATION = "embeddings"
# Longer than any embeddings model's vector (text-embedding-3-large: 3,072).
MAX_DIMENSIONS = 16_384


def _garbled(why: str) -> RemoteError:
    return RemoteError(
        OPERATION, f"embeddings answer refused: {why}", kind=TRANSIENT, retryable=True
    )


def _vector(value: object, index: int) -> tuple[float, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_DIMENSIONS:
        raise _garbled(f"embedding {index} is not a list of 1 to {MAX_DIMENSIONS} numbers")
    for number in value:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise _garbled(f"embedding {index} holds {type(number).__name__}, not a number")
        if not math.isfinite(number):
            raise _garbled(f"embedding {index} holds a number that is not finite")
    return tuple(float(n) for n in value)


def embeddings_of(body: bytes, inputs: int) -> Embeddings:
    """The answer's vectors for ``inputs`` inputs, in their order."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _garbled(f"not JSON ({exc})") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise _garbled("no data list")
    data: list[Any] = answer["data"]
    if len(data) != inputs:
        raise _garbled(f"{len(data)} embeddings for {inputs} inputs")
    placed: dict[int, tuple[float, ...]] = {}
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise _garbled(f"data[{position}] is not an object")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < inputs:
            raise _garbled(f"data[{position}] has index {index!r}, not one of 0-{inputs - 1}")
        if index in placed:
            raise _garbled(f"index {index} comes twice")
        placed[index] = _vector(item.get("embedding"), index)
    vectors = tuple(placed[i] for i in range(inputs))
    if len({len(v) for v in vectors}) > 1:
        raise _garbled("the embeddings differ in length")
    usage = answer.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= MAX_TOKENS:
        tokens = 0
    model = answer.get("model")
    return Embeddings(
        vectors=vectors,
        prompt_tokens=tokens,
        model=model if isinstance(model, str) and 0 < len(model) <= MAX_WORD else None,
    )
