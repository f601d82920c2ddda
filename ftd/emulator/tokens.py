"""Token counting with the tokenizer of the model's base, as billing and usage need.

Encodings are loaded once per process; text containing special-token strings
is counted as plain text (``disallowed_special=()``) instead of raising.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import tiktoken

from ftd import catalog

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Per-message and reply-priming overheads of the chat format.
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3


@functools.cache
def _encoding(name: str) -> tiktoken.Encoding:
    return tiktoken.get_encoding(name)


def encoding_for(model: str) -> tiktoken.Encoding:
    return _encoding(catalog.encoding_name(model))


def warm_up(models: Iterable[str] = (catalog.DEFAULT_MODEL,)) -> None:
    """Load tokenizers ahead of the first request (loading takes a moment)."""
    for model in models:
        encoding_for(model)


def count(text: str, model: str) -> int:
    if not text:
        return 0
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_many(texts: Sequence[str], model: str) -> list[int]:
    encoding = encoding_for(model)
    if len(texts) < 64:
        return [len(encoding.encode(t, disallowed_special=())) if t else 0 for t in texts]
    return [len(ids) for ids in encoding.encode_batch(list(texts), disallowed_special=())]


def truncate(text: str, model: str, limit: int) -> tuple[str, int]:
    """The first ``limit`` tokens of a text, and how many tokens that is."""
    encoding = encoding_for(model)
    ids = encoding.encode(text, disallowed_special=())
    if len(ids) <= limit:
        return text, len(ids)
    return encoding.decode(ids[:limit]), limit
