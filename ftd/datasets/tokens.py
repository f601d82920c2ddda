"""Exact token counts for training examples, the way OpenAI bills them.

Text is counted with tiktoken in the base model's encoding. The chat framing
follows OpenAI's published counting recipe: every message costs 3 tokens of
framing plus the tokens of each of its string values, a ``name`` costs one
more, and the reply is primed with 3 tokens. Tool definitions are counted with
the recipe's per-function and per-property constants; tool calls, which the
recipe does not cover, as their name and arguments plus a small framing cost.
Images cost what the vision guide says for their detail level.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from ftd.catalog import encoding_name
from ftd.errors import ConfigError

if TYPE_CHECKING:
    import tiktoken

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# Constants of the published recipe for function definitions (o200k and cl100k models).
FUNC_INIT_O200K = 7
FUNC_INIT_CL100K = 10
PROP_INIT = 3
PROP_KEY = 3
ENUM_INIT = -3
ENUM_ITEM = 3
FUNC_END = 12
TOOL_CALL_FRAMING = 3
# Vision: a low-detail image is 85 tokens; a high-detail one 85 + 170 per 512px tile
# after scaling to fit 2048x2048 and then the short side to 768.
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170
IMAGE_UNKNOWN_SIZE_TOKENS = 765  # a 1024x1024 image at high detail: 4 tiles

# Special-token text the API refuses in training data. Both encodings' own special
# tokens, plus the chat markup the service uses internally.
SPECIAL_TOKEN_TEXT = (
    "<|endoftext|>",
    "<|endofprompt|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
)
_SPECIAL_RE = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKEN_TEXT))

_CACHE_LIMIT = 4096
_CACHE_MAX_TEXT = 4096


def find_special_token(text: str) -> str | None:
    """The first special-token string in ``text``, or None."""
    if "<|" not in text:
        return None
    match = _SPECIAL_RE.search(text)
    return match.group(0) if match else None


@cache
def load_encoding(name: str) -> tiktoken.Encoding:
    """Load an encoding once per process.

    tiktoken downloads its rank files on first use; offline, it reads them from
    ``TIKTOKEN_CACHE_DIR``. A failure here is turned into a message that says so.
    """
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:
        cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR", "(unset)")
        raise RuntimeError(
            f"cannot load the {name} tokenizer ({type(exc).__name__}); without internet, "
            f"set TIKTOKEN_CACHE_DIR to a folder holding its rank files (now {cache_dir})"
        ) from exc


def require_encodings(names: Iterable[str]) -> None:
    """Load each encoding now, so a daemon that cannot count tokens never starts.

    Without its tokenizer every dataset would wait in ``detected`` while the
    daemon looked healthy; refusing to start (as a configuration error, which
    a service manager does not restart on) says what to fix at once.
    """
    for name in sorted(set(names)):
        try:
            load_encoding(name)
        except RuntimeError as exc:
            raise ConfigError("TIKTOKEN_CACHE_DIR", str(exc)) from None


class TokenCounter:
    """Counts tokens of example parts in one encoding, memoising repeated strings.

    Training sets repeat the same system prompt and tool definitions in every
    line; remembering their counts saves most of the tokenizer's work.
    """

    def __init__(self, model: str) -> None:
        self.encoding_name = encoding_name(model)
        self._encode = load_encoding(self.encoding_name).encode_ordinary
        self._func_init = (
            FUNC_INIT_CL100K if self.encoding_name == "cl100k_base" else FUNC_INIT_O200K
        )
        self._memo: dict[str, int] = {}

    def text(self, text: str) -> int:
        if not text:
            return 0
        if len(text) > _CACHE_MAX_TEXT:
            return len(self._encode(text))
        memo = self._memo
        found = memo.get(text)
        if found is None:
            found = len(self._encode(text))
            if len(memo) >= _CACHE_LIMIT:
                memo.clear()
            memo[text] = found
        return found

    def content(self, content: Any) -> int:
        """Tokens of a message's content: a string, or a list of text and image parts."""
        if isinstance(content, str):
            return self.text(content)
        total = 0
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    total += self.text(part["text"])
                elif kind == "image_url":
                    total += image_tokens(part.get("image_url"))
        return total

    def tool_calls(self, calls: Any) -> int:
        total = 0
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(fn, Mapping):
                    total += TOOL_CALL_FRAMING
                    total += self.text(_as_text(fn.get("name")))
                    total += self.text(_as_text(fn.get("arguments")))
        return total

    def function_call(self, call: Any) -> int:
        if not isinstance(call, Mapping):
            return 0
        return (
            TOOL_CALL_FRAMING
            + self.text(_as_text(call.get("name")))
            + self.text(_as_text(call.get("arguments")))
        )

    def message(self, message: Mapping[str, Any]) -> tuple[int, int]:
        """(tokens of the whole message, tokens the model is trained to produce in it)."""
        total = TOKENS_PER_MESSAGE
        produced = 0
        for key, value in message.items():
            if key == "content":
                n = self.content(value)
                total += n
                produced += n
            elif key == "tool_calls":
                n = self.tool_calls(value)
                total += n
                produced += n
            elif key == "function_call":
                n = self.function_call(value)
                total += n
                produced += n
            elif isinstance(value, str):
                total += self.text(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        trained = message.get("role") == "assistant" and message.get("weight", 1) != 0
        return total, (produced if trained else 0)

    def messages(self, messages: Sequence[Any]) -> tuple[int, int]:
        """(total, trained) tokens of a conversation including the reply priming."""
        total = REPLY_PRIMING
        trained = 0
        for message in messages:
            if isinstance(message, Mapping):
                t, a = self.message(message)
                total += t
                trained += a
        return total, trained

    def tools(self, tools: Any) -> int:
        """Tokens of ``tools`` definitions (or legacy ``functions``), per the recipe."""
        if not isinstance(tools, list) or not tools:
            return 0
        total = 0
        for entry in tools:
            if not isinstance(entry, Mapping):
                continue
            fn = entry.get("function", entry)  # legacy `functions` entries are bare
            if not isinstance(fn, Mapping):
                continue
            total += self._func_init
            desc = _as_text(fn.get("description")).removesuffix(".")
            total += self.text(f"{_as_text(fn.get('name'))}:{desc}")
            params = fn.get("parameters")
            props = params.get("properties") if isinstance(params, Mapping) else None
            if isinstance(props, Mapping) and props:
                total += PROP_INIT
                for key, spec in props.items():
                    total += PROP_KEY
                    spec = spec if isinstance(spec, Mapping) else {}
                    enum = spec.get("enum")
                    if isinstance(enum, list):
                        total += ENUM_INIT
                        for item in enum:
                            total += ENUM_ITEM + self.text(_as_text(item))
                    p_desc = _as_text(spec.get("description")).removesuffix(".")
                    total += self.text(f"{key}:{_as_text(spec.get('type'))}:{p_desc}")
        return total + FUNC_END


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import orjson

    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def image_tokens(image_url: Any) -> int:
    """Tokens one image costs: 85 at low detail, tiles at high detail."""
    if not isinstance(image_url, Mapping):
        return IMAGE_UNKNOWN_SIZE_TOKENS
    if image_url.get("detail") == "low":
        return IMAGE_BASE_TOKENS
    url = image_url.get("url")
    size = image_size_from_data_url(url) if isinstance(url, str) else None
    if size is None:
        return IMAGE_UNKNOWN_SIZE_TOKENS
    return high_detail_tokens(*size)


def high_detail_tokens(width: int, height: int) -> int:
    if width <= 0 or height <= 0:
        return IMAGE_BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    tiles = -(-int(w) // 512) * -(-int(h) // 512)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * tiles


def image_size_from_data_url(url: str) -> tuple[int, int] | None:
    """Width and height of a base64 PNG, GIF or JPEG data URL, read from its header only."""
    if not url.startswith("data:image/"):
        return None
    comma = url.find(",")
    if comma < 0 or ";base64" not in url[:comma]:
        return None
    import base64
    import binascii

    # 64 KiB of base64 holds the headers of any sane JPEG.
    head = url[comma + 1 : comma + 1 + 65536]
    head = head[: len(head) - len(head) % 4]
    try:
        data = base64.b64decode(head, validate=False)
    except (binascii.Error, ValueError):
        return None
    return _image_size(data)


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                return (
                    int.from_bytes(data[i + 7 : i + 9], "big"),
                    int.from_bytes(data[i + 5 : i + 7], "big"),
                )
            i += 2 + length
    return None
