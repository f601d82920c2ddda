"""Token counting with the tokenizer of the model's base, as chat usage needs.

Encodings are loaded once per process (the same cache as ftd's validator);
text containing special-token strings is counted as plain text
(``disallowed_special=()``) instead of raising. Training is billed elsewhere:
by ``TokenCounter.example`` in ftd/datasets/tokens.py, the function
``ftd validate`` estimates with, so the two cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd import catalog
from ftd.datasets.tokens import load_encoding

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import tiktoken

# Per-message and reply-priming overheads of a chat completion prompt.
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3


def encoding_for(model: str) -> tiktoken.Encoding:
    return load_encoding(catalog.encoding_name(model))


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
