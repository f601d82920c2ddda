"""The completion cache's key: the digest of one canonical JSON, however it is fed.

Keys are stored: a key computed differently for the same request would make
every cached answer unreachable, so the piecewise hashing is held to the
definition, the SHA-256 of the sorted compact JSON of the whole request.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import orjson

from ftd.evaluation.cache import cache_key, canonical, key_of


def _defined(model: str, messages: list[Any], params: dict[str, Any], repeat: int) -> str:
    body: dict[str, Any] = {"model": model, "messages": messages, "params": params}
    if repeat:
        body["repeat"] = repeat
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def test_the_key_is_the_digest_of_the_whole_requests_sorted_json() -> None:
    rng = random.Random(11)
    words = ["é", "東京", '"quoted"', "back\\slash", "\n", "<|endoftext|>", "plain", ""]
    checked = 0
    for _ in range(500):
        messages = [
            {
                "role": rng.choice(["system", "user", "assistant"]),
                "content": " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))),
                **({"name": "x"} if rng.random() < 0.2 else {}),
            }
            for _ in range(rng.randint(0, 4))
        ]
        params: dict[str, Any] = {
            "temperature": rng.choice([0, 0.0, 0.7, 1]),
            "max_completion_tokens": rng.randint(1, 4096),
        }
        if rng.random() < 0.5:
            params["response_format"] = {"type": "json_schema", "json_schema": {"b": 1, "a": [2]}}
        model = rng.choice(["gpt-4.1-mini-2025-04-14", "ft:gpt-4o:acme::x1", "模型"])
        repeat = rng.choice([0, 0, 1, 2])
        expected = _defined(model, messages, params, repeat)
        assert cache_key(model, messages, params, repeat=repeat) == expected
        assert cache_key(model, tuple(messages), params, repeat=repeat) == expected
        assert key_of(canonical(messages), model, canonical(params), repeat) == expected
        checked += 1
    assert checked == 500


def test_a_known_request_keeps_its_key() -> None:
    # Computed once by the definition above and kept: caches written by earlier
    # versions are read under it.
    key = cache_key("m", [{"role": "user", "content": "hi"}], {"temperature": 0})
    assert (
        key
        == hashlib.sha256(
            b'{"messages":[{"content":"hi","role":"user"}],"model":"m","params":{"temperature":0}}'
        ).hexdigest()
    )
