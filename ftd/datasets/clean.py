"""The common case in one walk: a plainly valid supervised line, checked and counted together.

Most lines of a training file are text conversations, now and then with tool
calls. This walk goes over such a line once, checking each message and counting
its tokens as it passes, and builds no path or message, since it finds nothing
to report. The moment it sees anything else (a content list, an image, a legacy
function call, a value that would earn any finding, even a warning) it gives
up and the full checker in formats.py takes the line, paths and all. So it
must accept only what the full checker accepts without a finding, and count
what TokenCounter counts: tests hold it to both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, TypeGuard

import orjson

from ftd.datasets.formats import _KEYS_BY_ROLE, _NAME_RE, SFT_TOP_KEYS
from ftd.datasets.tokens import EXAMPLE_END, TOKENS_PER_MESSAGE, TOKENS_PER_NAME

if TYPE_CHECKING:
    from ftd.datasets.tokens import TokenCounter


class Counted(NamedTuple):
    total: int
    trained: int
    messages: int
    system_prompt: str | None


_TEXT_ROLES = frozenset({"system", "developer", "user", "function"})
_TOOL_KEYS = _KEYS_BY_ROLE["tool"]
_ASSISTANT_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "refusal"})


def clean_supervised(obj: dict[str, Any], counter: TokenCounter) -> Counted | None:
    """Token figures of a line the full checker would pass without a finding, else None."""
    if not obj.keys() <= SFT_TOP_KEYS or "functions" in obj or "function_call" in obj:
        return None
    messages = obj.get("messages")
    if type(messages) is not list or not messages:
        return None
    tools = obj.get("tools")
    defined: set[str] | None = None
    if "tools" in obj:
        defined = _defined_tools(tools)
        if defined is None:
            return None
    ptc = obj.get("parallel_tool_calls")
    if ptc is not None and type(ptc) is not bool:
        return None
    count_message = counter.message
    text = counter.text
    total = EXAMPLE_END
    trained = 0
    system_prompt: str | None = None
    learns = False  # an assistant turn with a weight other than 0
    open_calls: set[str] = set()
    seen_calls: set[str] = set()
    for message in messages:
        if type(message) is not dict:
            return None
        role = message.get("role")
        if type(role) is not str:
            return None
        if role in _TEXT_ROLES:
            if not message.keys() <= _KEYS_BY_ROLE[role]:
                return None
            content = message.get("content")
            if not _is_text(content):
                return None
            if system_prompt is None and (role == "system" or role == "developer"):
                system_prompt = content
            # TokenCounter.message's figure for a message of string values, without its loop.
            total += TOKENS_PER_MESSAGE + text(role) + text(content)
            name = message.get("name")
            if name is not None:
                if type(name) is not str or not _NAME_RE.match(name):
                    return None
                total += text(name) + TOKENS_PER_NAME
            continue
        if role == "assistant":
            if not message.keys() <= _ASSISTANT_KEYS:
                return None
            calls = message.get("tool_calls")
            content = message.get("content")
            if calls is None:
                if "tool_calls" in message or not _is_text(content):
                    return None
            elif (content is not None and not _is_text(content)) or not _calls_fine(
                calls, defined, open_calls, seen_calls
            ):
                return None
            weight = message.get("weight", 1)
            if type(weight) is not int or not (weight == 0 or weight == 1):
                return None
            learns = learns or weight == 1
            if calls is None and "refusal" not in message and content is not None:
                produced = text(content)
                total += TOKENS_PER_MESSAGE + text(role) + produced
                if weight:
                    trained += produced
                name = message.get("name")
                if name is not None:
                    if type(name) is not str or not _NAME_RE.match(name):
                        return None
                    total += text(name) + TOKENS_PER_NAME
                continue
        elif role == "tool":
            if not message.keys() <= _TOOL_KEYS or not _is_text(message.get("content")):
                return None
            call_id = message.get("tool_call_id")
            if type(call_id) is not str or call_id not in open_calls:
                return None
            open_calls.discard(call_id)
        else:
            return None
        name = message.get("name")
        if name is not None and (type(name) is not str or not _NAME_RE.match(name)):
            return None
        t, a = count_message(message)
        total += t
        trained += a
    if not learns:
        return None
    if tools:
        # Rendered into the first system message, as TokenCounter.example bills them.
        total += counter.tools(tools, system_prompt)
    return Counted(total, trained, len(messages), system_prompt)


def _is_text(content: Any) -> TypeGuard[str]:
    """A non-blank string without special-token text."""
    return (
        type(content) is str
        and bool(content)
        and not content.isspace()
        and ("<|" not in content or _special_free(content))
    )


def _special_free(text: str) -> bool:
    from ftd.datasets.tokens import find_special_token

    return find_special_token(text) is None


def _calls_fine(
    calls: Any, defined: set[str] | None, open_calls: set[str], seen_calls: set[str]
) -> bool:
    if type(calls) is not list or not calls or defined is None:
        return False
    for call in calls:
        if type(call) is not dict:
            return False
        call_id = call.get("id")
        if type(call_id) is not str or not call_id or call_id in seen_calls:
            return False
        seen_calls.add(call_id)
        open_calls.add(call_id)
        if call.get("type", "function") != "function":
            return False
        fn = call.get("function")
        if type(fn) is not dict:
            return False
        name = fn.get("name")
        if type(name) is not str or name not in defined:
            return False
        args = fn.get("arguments")
        if type(args) is not str or ("<|" in args and not _special_free(args)):
            return False
        try:
            orjson.loads(args)
        except orjson.JSONDecodeError:
            return False
    return True


def _defined_tools(tools: Any) -> set[str] | None:
    """The function names of well-formed ``tools``, or None when the full checker has a say."""
    if type(tools) is not list or not tools:
        return None
    names: set[str] = set()
    for tool in tools:
        if type(tool) is not dict or tool.get("type") != "function":
            return None
        fn = tool.get("function")
        if type(fn) is not dict:
            return None
        name = fn.get("name")
        if type(name) is not str or not _NAME_RE.match(name):
            return None
        params = fn.get("parameters")
        desc = fn.get("description")
        if (params is not None and type(params) is not dict) or (
            desc is not None and type(desc) is not str
        ):
            return None
        names.add(name)
    return names
