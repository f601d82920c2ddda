"""Completions cached by what determines them: model, messages and parameters.

The key is a SHA-256 over a canonical JSON of the three (plus a ``repeat``
number when the same question is asked again on purpose, as for the judge's
self-agreement), so re-running an evaluation or a grader never pays twice
for the same completion. Only answers are stored: an error is never cached,
and the next run asks again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ftd.store import Store


def cache_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    repeat: int = 0,
) -> str:
    return key_of(canonical(list(messages)), model, canonical(dict(params)), repeat)


def canonical(value: Any) -> bytes:
    """``value`` as the key's JSON holds it: compact, keys sorted at every level."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def key_of(messages: bytes, model: str, params: bytes, repeat: int = 0) -> str:
    """The key of canonical ``messages`` and ``params`` JSON (see ``canonical``).

    The digest of the canonical JSON of ``{"messages", "model", "params",
    "repeat"}`` (the last only when not 0), fed in its sorted order piece by
    piece: a batch evaluation hashes hundreds of thousands of requests, and
    an item's two answers (and every judge request) share their messages' or
    parameters' JSON, made once.
    """
    digest = hashlib.sha256(b'{"messages":')
    digest.update(messages)
    digest.update(b',"model":')
    digest.update(orjson.dumps(model))
    digest.update(b',"params":')
    digest.update(params)
    if repeat:
        digest.update(b',"repeat":')
        digest.update(orjson.dumps(repeat))
    digest.update(b"}")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    """Reads go to SQLite; writes travel with the item rows that used them (one commit)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> CachedAnswer | None:
        rows = await self._store.read(
            "SELECT response, prompt_tokens, completion_tokens FROM completion_cache WHERE key = ?",
            (key,),
        )
        if not rows:
            self.misses += 1
            return None
        self.hits += 1
        row = rows[0]
        return CachedAnswer(row["response"], row["prompt_tokens"], row["completion_tokens"])
