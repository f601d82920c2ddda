"""Exact token counts for training examples, the way OpenAI bills them.

Text is counted with tiktoken in the base model's encoding. The framing is
what real jobs were billed (``trained_tokens`` of finished jobs, see
tests/datasets/test_billing.py): every message costs 3 tokens of framing plus
its role and the tokens of each of its string values, a ``name`` one more, and
an example ends with 1 token; there is no reply priming in training data.
Tool definitions are billed as the text the model reads (the ``namespace
functions`` rendering of ftd/datasets/toolrender.py, placed in the system
message); a tool call as a message of its own addressed ``to=functions.NAME``
holding the arguments. A message of weight 0 is billed (the model reads it)
but not trained on. A DPO example is
two sequences, the input with each of its answers. Images cost what the vision
guide says for their detail level. The emulator bills by ``example_tokens``
too, so both sides agree by construction.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ftd.catalog import encoding_name
from ftd.datasets.toolrender import render_functions
from ftd.errors import ConfigError

if TYPE_CHECKING:
    import tiktoken

    from ftd.datasets.small_bpe import SmallEncoder

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
EXAMPLE_END = 1
# The tools block joins the system message after a blank line.
TOOLS_JOINER = "\n\n"
TOOL_CALL_RECIPIENT = " to=functions."
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


# The encodings built in this process, by name.
_LOADED: dict[str, tiktoken.Encoding] = {}


def load_encoding(name: str) -> tiktoken.Encoding:
    """Load an encoding once per process.

    tiktoken downloads its rank files on first use; offline, it reads them from
    ``TIKTOKEN_CACHE_DIR``. A failure here is turned into a message that says so.
    """
    found = _LOADED.get(name)
    if found is not None:
        return found
    import tiktoken

    try:
        params = _constructed(name, load_ranks_in_bulk)
        encoding = tiktoken.Encoding(**params) if params else tiktoken.get_encoding(name)
    except Exception as exc:
        raise _unloadable(name, exc) from exc
    _LOADED[name] = encoding
    _SMALL.pop(name, None)  # (its 37 MB of ranks serve nothing once tiktoken's is built)
    return encoding


def _unloadable(name: str, exc: Exception) -> RuntimeError:
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR", "(unset)")
    return RuntimeError(
        f"cannot load the {name} tokenizer ({type(exc).__name__}); without internet, "
        f"set TIKTOKEN_CACHE_DIR to a folder holding its rank files (now {cache_dir})"
    )


_RANKS_LOCK = threading.Lock()
RankLoader = Callable[..., dict[bytes, int]]


def _constructed(name: str, load_ranks: RankLoader) -> dict[str, Any] | None:
    """tiktoken's parameters for encoding ``name``, its rank files read by ``load_ranks``.

    ``load_ranks(blobpath, expected_hash)`` stands in for tiktoken's own
    loader, so the file, its cache and its hash check stay tiktoken's while
    the parsing may differ. None where tiktoken's constructors cannot be read
    this way.
    """
    try:
        import tiktoken_ext.openai_public as public  # type: ignore[import-untyped]
    except ImportError:
        return None
    constructor = getattr(public, "ENCODING_CONSTRUCTORS", {}).get(name)
    if constructor is None or not hasattr(public, "load_tiktoken_bpe"):
        return None
    with _RANKS_LOCK:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = load_ranks
        try:
            params: dict[str, Any] = constructor()
        finally:
            public.load_tiktoken_bpe = original
    return params


def load_ranks_in_bulk(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """What tiktoken.load.load_tiktoken_bpe returns, parsed with whole-file operations.

    tiktoken decodes a rank file one line and one base64 call at a time, which
    was two thirds of its load time (0.4 s for o200k_base); tests compare the
    result with tiktoken's own.
    """
    import binascii

    from tiktoken.load import read_file_cached

    words = read_file_cached(blobpath, expected_hash).split()
    if len(words) % 2:
        raise ValueError(f"{blobpath}: a rank file holds pairs of token and rank")
    return dict(zip(map(binascii.a2b_base64, words[0::2]), map(int, words[1::2]), strict=True))


def require_encodings(names: Iterable[str]) -> None:
    """Load each encoding now, so a daemon that cannot count tokens never starts.

    Without its tokenizer every dataset would wait in ``detected`` while the
    daemon looked healthy; refusing to start (as a configuration error, which
    a service manager does not restart on) says what to fix at once.
    """
    for name in sorted(set(names)):
        try:
            if not _rank_files_read(name):
                load_encoding(name)
        except RuntimeError as exc:
            raise ConfigError("TIKTOKEN_CACHE_DIR", str(exc)) from None


def _rank_files_read(name: str) -> bool:
    """Whether tiktoken read every rank file of ``name``, hash-checked, without building it.

    What can fail in loading an encoding is its file: missing, unreadable or not
    the published one. Reading it through tiktoken's own cache and hash check
    answers that in a hundredth of the time of parsing it into an encoder, which
    the daemon itself never uses (its validation workers load their own). False
    where tiktoken's constructors cannot be read this way: then load it whole.
    """
    from tiktoken.load import read_file_cached

    def read_only(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        read_file_cached(blobpath, expected_hash)
        return {}

    try:
        return _constructed(name, read_only) is not None
    except Exception as exc:
        raise _unloadable(name, exc) from exc


# One small encoder per encoding in a process, shared by every counter of it (each
# holds 37 MB of ranks), until tiktoken's encoder is built.
_SMALL: dict[str, SmallEncoder | None] = {}


def shared_small_encoder(name: str) -> SmallEncoder | None:
    """The process's small encoder for ``name``; None once tiktoken's is built, or if none."""
    if name in _LOADED:
        return None
    if name not in _SMALL:
        _SMALL[name] = small_encoder(name)
    return _SMALL.get(name)


def small_encoder(name: str) -> SmallEncoder | None:
    """A SmallEncoder for ``name`` from tiktoken's own pattern and rank file; None if none.

    None where tiktoken's constructor reads more than one file or none this
    way, or the file cannot be read: then the caller builds tiktoken's encoder,
    and any error is its to report.
    """
    from tiktoken.load import read_file_cached

    from ftd.datasets.small_bpe import SmallEncoder

    files: list[bytes] = []

    def read_raw(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        files.append(read_file_cached(blobpath, expected_hash))
        return {}

    try:
        params = _constructed(name, read_raw)
        pattern = params.get("pat_str") if params else None
        if len(files) != 1 or not isinstance(pattern, str):
            return None
        return SmallEncoder(pattern, files[0])
    except Exception:
        return None


class TokenCounter:
    """Counts tokens of example parts in one encoding, memoising repeated strings.

    Training sets repeat the same system prompt and tool definitions in every
    line; remembering their counts saves most of the tokenizer's work.
    """

    def __init__(self, model: str) -> None:
        self.encoding_name = encoding_name(model)
        self._memo: dict[str, int] = {}
        self._tools_memo: dict[bytes, int] = {}
        # Replaced by an open-weight model's own tokenizer where one is configured.
        self._encode: Callable[[str], list[int]]
        self._encode_direct: Callable[[str], list[int]]
        self._small: SmallEncoder | None = None
        self._small_tried = False
        loaded = _LOADED.get(self.encoding_name)
        if loaded is not None:
            self._use(loaded)
            return
        # Until its budget runs out a small encoder answers, and tiktoken's
        # encoder is built only for work that repays it (see small_bpe.py).
        self._encode = self._encode_lazily
        self._encode_direct = self._encode_lazily

    def _use(self, encoding: tiktoken.Encoding) -> None:
        self._small = None
        self._encode = encoding.encode_ordinary
        # tiktoken's encoder without its Python wrapper, which only retries a text
        # holding lone surrogates (see text()); a tenth of the counting time.
        core = getattr(encoding, "_core_bpe", None)
        self._encode_direct = getattr(core, "encode_ordinary", self._encode)

    def _encode_lazily(self, text: str) -> list[int]:
        """tiktoken's ``encode_ordinary`` of ``text``, from the small encoder while it lasts."""
        loaded = _LOADED.get(self.encoding_name)
        if loaded is not None:
            self._use(loaded)
            return self._encode(text)
        if not self._small_tried:
            self._small_tried = True
            self._small = shared_small_encoder(self.encoding_name)
        small = self._small
        if small is not None:
            try:
                ids = small.encode_ordinary(text)
            except UnicodeEncodeError:  # lone surrogates: replaced as tiktoken's wrapper does
                ids = small.encode_ordinary(_without_lone_surrogates(text))
            if ids is not None:
                return ids
        self._use(load_encoding(self.encoding_name))
        return self._encode(text)

    def text(self, text: str) -> int:
        if not text:
            return 0
        if len(text) > _CACHE_MAX_TEXT:
            return self._count(text)
        memo = self._memo
        found = memo.get(text)
        if found is None:
            try:
                found = len(self._encode_direct(text))
            except UnicodeEncodeError:  # lone surrogates: tiktoken's wrapper replaces them
                found = len(self._encode(text))
            if len(memo) >= _CACHE_LIMIT:
                memo.clear()
            memo[text] = found
        return found

    def _count(self, text: str) -> int:
        try:
            return len(self._encode_direct(text))
        except UnicodeEncodeError:
            return len(self._encode(text))

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
        """Tokens of tool calls: each one a message of its own, to the function it calls."""
        total = 0
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(fn, Mapping):
                    total += self.function_call(fn)
        return total

    def function_call(self, call: Any) -> int:
        if not isinstance(call, Mapping):
            return 0
        return (
            TOKENS_PER_MESSAGE
            + self.text("assistant")
            + self.text(TOOL_CALL_RECIPIENT + _as_text(call.get("name")))
            + self.text(_as_text(call.get("arguments")))
        )

    def message(self, message: Mapping[str, Any]) -> tuple[int, int]:
        """(billed tokens of the message, tokens the model is trained to produce in it).

        A message of weight 0 is billed all the same: a real job billed its
        weight-0 turns (tests/datasets/test_billing.py); it is only not trained on.
        """
        calls = 0
        framed = False
        total = 0
        produced = 0
        for key, value in message.items():
            if key == "content":
                n = self.content(value)
                total += n
                produced += n
                framed = framed or n > 0
            elif key == "tool_calls":
                calls += self.tool_calls(value)
            elif key == "function_call":
                calls += self.function_call(value)
            elif isinstance(value, str) and key != "content":
                total += self.text(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        if calls and not framed:
            # Only the calls reach the model: no empty assistant turn before them.
            total = calls
        else:
            total += TOKENS_PER_MESSAGE + calls
        produced += calls
        trained = message.get("role") == "assistant" and message.get("weight", 1) != 0
        return total, (produced if trained else 0)

    def messages(self, messages: Sequence[Any]) -> tuple[int, int]:
        """(billed, trained) tokens of one conversation, including its end token."""
        total = EXAMPLE_END
        trained = 0
        for message in messages:
            if isinstance(message, Mapping):
                t, a = self.message(message)
                total += t
                trained += a
        return total, trained

    def tools(self, tools: Any, system: str | None = None) -> int:
        """Tokens ``tools`` (or legacy ``functions``) add, rendered into the system message.

        Appended to the system message ``system`` after a blank line, they cost
        what the joined text costs beyond the message alone; without a system
        message they are one of their own.
        """
        if not isinstance(tools, list) or not tools:
            return 0
        import orjson

        try:
            key = orjson.dumps(tools)
        except TypeError:
            key = repr(tools).encode()
        if system is not None:
            key += b"\x00" + system.encode("utf-8", "surrogatepass")
        found = self._tools_memo.get(key)
        if found is None:
            text = render_functions(tools)
            if not text:
                found = 0
            elif system is None:
                found = TOKENS_PER_MESSAGE + self.text("system") + len(self._encode(text))
            else:
                joined = len(self._encode(system + TOOLS_JOINER + text))
                found = joined - self.text(system)
            if len(self._tools_memo) >= _CACHE_LIMIT:
                self._tools_memo.clear()
            self._tools_memo[key] = found
        return found

    def example(
        self,
        messages: Sequence[Any],
        tools: Any = None,
        outputs: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[int, int]:
        """(billed, trained) tokens of one training example: what a job bills per epoch.

        ``outputs`` are a DPO example's answers: each is trained with the whole
        input, so the input is billed once per answer.
        """
        total, trained = self.messages(messages)
        if tools:
            system = next(
                (
                    m.get("content")
                    for m in messages
                    if isinstance(m, Mapping) and m.get("role") in ("system", "developer")
                ),
                None,
            )
            total += self.tools(tools, system if isinstance(system, str) else None)
        if not outputs:
            return total, trained
        billed = 0
        for out in outputs:
            t, a = self.message(out)
            billed += total + t
            trained += a
        return billed, trained


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


def _without_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, as tiktoken's wrapper does."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
