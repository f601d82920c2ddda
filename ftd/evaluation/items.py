"""Test items read from a JSONL file: what the model is asked, and the answer it should give.

A supervised line's prompt is every message before its final assistant turn,
and that turn's content is the reference; a DPO line's prompt is
``input.messages`` and its reference the preferred output. A reinforcement
line (read so only when the evaluation grades with the run's own grader) is
its messages, which end with the user's turn, and its other fields, which
the grader's ``{{item.*}}`` templates read; it has no reference answer, so
its fields stand in for one in reports. Anything else cannot be graded, so
it is refused with the file and line named rather than skipped: a silently
shorter test set would make the verdict look surer than it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ftd.errors import FtdError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import BinaryIO

PROMPT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class ItemsError(FtdError):
    """A test file, or one of its lines, cannot be evaluated."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class Item:
    """One test example; ``index`` is its position among the file's items (from 0)."""

    index: int
    line: int
    prompt: tuple[dict[str, Any], ...]
    reference: str
    # The whole line, for a reinforcement grader's {{item.*}} templates; None otherwise.
    fields: dict[str, Any] | None = None

    @property
    def prompt_sha256(self) -> str:
        return hashlib.sha256(
            orjson.dumps(list(self.prompt), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()

    @property
    def question(self) -> str:
        """The last user turn as text, for judge prompts and reports."""
        for message in reversed(self.prompt):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        return content_text(self.prompt[-1].get("content")) if self.prompt else ""


def content_text(content: object) -> str:
    """A message's text: a string as is, a list of parts as their ``text`` joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        )
    return ""


def _reference_of(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    text = content_text(content)
    if text:
        return text
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        # A tool-calling turn: the calls themselves are what the model should produce.
        return orjson.dumps(calls, option=orjson.OPT_SORT_KEYS).decode()
    return None


def _prompt_of(messages: object, where: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where} must be a non-empty list of messages")
    prompt: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in PROMPT_ROLES:
            raise ValueError(f"{where}[{i}] is not a message with a known role")
        # Training-only keys are not part of a request (a message without one is kept
        # as read: nothing changes an item's messages once it is made).
        if "weight" in message:
            message = {k: v for k, v in message.items() if k != "weight"}
        prompt.append(message)
    return tuple(prompt)


def parse_line(data: object) -> tuple[tuple[dict[str, Any], ...], str]:
    """(prompt, reference) of one decoded line; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages must be a non-empty list")
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            raise ValueError(
                "the last message must be the assistant's answer (the reference); a "
                "reinforcement line is graded only by its run's own grader (grader rft)"
            )
        reference = _reference_of(last)
        if reference is None:
            raise ValueError("the last assistant message has no content to compare with")
        if not any(isinstance(m, dict) and m.get("role") == "user" for m in messages[:-1]):
            raise ValueError("no user message before the final assistant turn")
        prompt = _prompt_of(messages[:-1], "messages")
        return prompt, reference
    if "input" in data and "preferred_output" in data:
        source = data["input"]
        if not isinstance(source, dict):
            raise ValueError("input must be an object with messages")
        prompt = _prompt_of(source.get("messages"), "input.messages")
        preferred = data["preferred_output"]
        if not isinstance(preferred, list) or not preferred or not isinstance(preferred[0], dict):
            raise ValueError("preferred_output must be a list of one assistant message")
        reference = _reference_of(preferred[0])
        if reference is None:
            raise ValueError("preferred_output[0] has no content to compare with")
        return prompt, reference
    raise ValueError(
        "neither a supervised example (messages ending with the assistant's answer) nor a "
        "DPO example (input.messages with preferred_output); other formats have no reference "
        "answer to grade against"
    )


RFT_LAST_ROLES = frozenset({"user", "developer"})


def parse_rft_line(data: object) -> tuple[tuple[dict[str, Any], ...], str]:
    """(prompt, fields as text) of a reinforcement line; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    messages = data.get("messages")
    prompt = _prompt_of(messages, "messages")
    last = prompt[-1].get("role")
    if last not in RFT_LAST_ROLES:
        raise ValueError(
            f"messages[{len(prompt) - 1}]: a reinforcement prompt must end with a user or "
            f"developer turn, not {last}"
        )
    rest = {k: v for k, v in data.items() if k not in ("messages", "tools")}
    return prompt, orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode()


def read_items(
    path: Path, *, max_items: int | None = None, reinforcement: bool = False
) -> list[Item]:
    """Every item of a test file, in order; the first bad line raises ItemsError.

    ``reinforcement`` reads reinforcement lines (messages and the fields
    the run's grader reads) instead of lines with a reference answer.
    """
    items = list(iter_items(path, max_items=max_items, reinforcement=reinforcement))
    if not items:
        raise ItemsError(str(path), None, "holds no test items")
    return items


def iter_items(
    path: Path, *, max_items: int | None = None, reinforcement: bool = False
) -> Iterator[Item]:
    """The items of a test file one by one, read a line at a time (see ``read_items``).

    A large test file is gone through this way without holding its items:
    the batch engine reads it again for each pass over the items.
    """
    name = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ItemsError(name, None, f"cannot read: {exc.strerror or exc}") from exc
    count = 0
    with handle:
        for number, line in enumerate(_lines_of(handle, name), start=1):
            body = line.strip()
            if number == 1 and body.startswith(b"\xef\xbb\xbf"):
                body = body[3:]
            if not body:
                continue
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ItemsError(name, number, f"not JSON: {exc}") from None
            try:
                if reinforcement:
                    prompt, reference = parse_rft_line(data)
                else:
                    prompt, reference = parse_line(data)
            except ValueError as exc:
                raise ItemsError(name, number, str(exc)) from None
            fields = data if reinforcement else None
            yield Item(count, number, prompt, reference, fields)
            count += 1
            if max_items is not None and count >= max_items:
                return


def _lines_of(handle: BinaryIO, name: str) -> Iterator[bytes]:
    try:
        # Lines as bytes.splitlines() cuts them, so line numbers match every other reader.
        for raw in handle:
            yield from raw.splitlines() or [b""]
    except OSError as exc:
        raise ItemsError(name, None, f"cannot read: {exc.strerror or exc}") from exc
