"""The three training-data formats and the checks each line must pass.

A checker looks at one parsed line and appends findings to a list; it never
raises on any input, whatever its shape. Locations are JSON paths into the
line (``messages[2].content``) so that a person can find the spot at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ftd.catalog import DPO, REINFORCEMENT, SUPERVISED
from ftd.datasets.images import data_url_problem
from ftd.datasets.tokens import find_special_token

if TYPE_CHECKING:
    from collections.abc import Mapping

ERROR: Final = "error"
WARNING: Final = "warning"

MAX_IMAGES_PER_EXAMPLE = 10
MAX_FUNCTIONS = 128
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_HTTP_URL_RE = re.compile(r"^https?://", re.I)

SFT_TOP_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions", "function_call"})
DPO_TOP_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
DPO_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})

SFT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
RFT_ROLES = frozenset({"developer", "user", "assistant", "tool"})

_KEYS_BY_ROLE: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "weight", "tool_calls", "function_call", "refusal"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}


@dataclass(slots=True)
class Finding:
    severity: str
    kind: str
    message: str
    column: int | None = None


@dataclass(slots=True)
class Example:
    """What the statistics need from one valid example."""

    messages: list[Mapping[str, Any]]  # everything the model sees, in order
    tools: Any = None
    outputs: list[Mapping[str, Any]] = field(default_factory=list)  # DPO answers
    system_prompt: str | None = None
    images: int = 0


def detect_method(obj: Any) -> str | None:
    """The format a parsed line is written in, or None when it is none of them."""
    if not isinstance(obj, dict):
        return None
    if obj.keys() & DPO_TOP_KEYS:
        return DPO
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if roles and roles[-1] == "assistant":
        return SUPERVISED
    if obj.keys() - SFT_TOP_KEYS:
        return REINFORCEMENT
    if "assistant" not in roles and roles and roles[-1] in ("user", "developer"):
        return REINFORCEMENT
    return SUPERVISED


class _Walk:
    """State of one example's check: findings, tool-call bookkeeping, image count."""

    __slots__ = ("defined", "findings", "images", "open_calls", "seen_calls")

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.images = 0
        self.open_calls: set[str] = set()
        self.seen_calls: set[str] = set()
        # Names of the functions in the example's tools (or functions); None without any.
        self.defined: set[str] | None = None

    def err(self, kind: str, message: str) -> None:
        self.findings.append(Finding(ERROR, kind, message))

    def warn(self, kind: str, message: str) -> None:
        self.findings.append(Finding(WARNING, kind, message))

    def text(self, path: str, text: str) -> None:
        token = find_special_token(text)
        if token is not None:
            self.err("special_token", f"{path}: contains the special token {token}")

    def content(self, path: str, role: str, content: Any, *, optional: bool) -> None:
        if content is None:
            if not optional:
                self.err("missing_content", f"{path}: content is null")
            return
        if isinstance(content, str):
            if not content.strip():
                self.err("empty_content", f"{path}: content is empty")
            else:
                self.text(path, content)
            return
        if not isinstance(content, list):
            self.err(
                "wrong_type",
                f"{path}: content must be a string or an array of parts, not {_type(content)}",
            )
            return
        if not content:
            self.err("empty_content", f"{path}: content is an empty array")
            return
        for i, part in enumerate(content):
            self.part(f"{path}[{i}]", role, part)

    def part(self, path: str, role: str, part: Any) -> None:
        if not isinstance(part, dict):
            self.err("invalid_content_part", f"{path}: a content part must be an object")
            return
        kind = part.get("type")
        if kind == "text":
            extra = part.keys() - {"type", "text"}
            if extra:
                self.err("unknown_key", f"{path}: unknown key {_names(extra)} in a text part")
            text = part.get("text")
            if not isinstance(text, str):
                self.err("wrong_type", f"{path}.text: must be a string, not {_type(text)}")
            elif not text.strip():
                self.err("empty_content", f"{path}.text: text is empty")
            else:
                self.text(f"{path}.text", text)
        elif kind == "image_url":
            if role == "assistant":
                self.err("image_in_assistant", f"{path}: images are not allowed in assistant turns")
            elif role != "user":
                self.err("invalid_content_part", f"{path}: images are allowed only in user turns")
            self.images += 1
            extra = part.keys() - {"type", "image_url"}
            if extra:
                self.err("unknown_key", f"{path}: unknown key {_names(extra)} in an image part")
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(image, dict) or not isinstance(url, str):
                self.err("invalid_image", f"{path}.image_url: must be an object with a url string")
            else:
                if url[:5].lower() == "data:":
                    problem = data_url_problem(url)
                    if problem is not None:
                        self.err("invalid_image", f"{path}.image_url.url: {problem}")
                elif not _HTTP_URL_RE.match(url):
                    self.err(
                        "invalid_image",
                        f"{path}.image_url.url: must be an http(s) URL or a base64 data URL "
                        "of a JPEG, PNG or WEBP image",
                    )
                detail = image.get("detail", "auto")
                if detail not in ("auto", "low", "high"):
                    self.err(
                        "invalid_image",
                        f"{path}.image_url.detail: must be auto, low or high, not {_short(detail)}",
                    )
        else:
            self.err(
                "invalid_content_part",
                f'{path}.type: must be "text" or "image_url", not {_short(kind)}',
            )

    def tool_calls(self, path: str, calls: Any) -> None:
        if not isinstance(calls, list) or not calls:
            self.err("invalid_tool_call", f"{path}: must be a non-empty array of tool calls")
            return
        for i, call in enumerate(calls):
            where = f"{path}[{i}]"
            if not isinstance(call, dict):
                self.err("invalid_tool_call", f"{where}: must be an object")
                continue
            call_id = call.get("id")
            if not isinstance(call_id, str) or not call_id:
                self.err("invalid_tool_call", f"{where}.id: must be a non-empty string")
            elif call_id in self.seen_calls:
                self.err("duplicate_tool_call_id", f"{where}.id: {_short(call_id)} is used twice")
            else:
                self.seen_calls.add(call_id)
                self.open_calls.add(call_id)
            if call.get("type", "function") != "function":
                self.err("invalid_tool_call", f'{where}.type: must be "function"')
            self.function_call(f"{where}.function", call.get("function"))

    def function_call(self, path: str, fn: Any) -> None:
        if not isinstance(fn, dict):
            self.err("invalid_tool_call", f"{path}: must be an object with name and arguments")
            return
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            self.err(
                "invalid_tool_call",
                f"{path}.name: must be 1-64 letters, digits, '_' or '-', not {_short(name)}",
            )
        elif self.defined is None:
            self.warn(
                "tool_call_undefined",
                f"{path}.name: calls {_short(name)}, but the example defines no tools",
            )
        elif name not in self.defined:
            known = ", ".join(_short(n) for n in sorted(self.defined)[:5])
            self.err(
                "tool_call_undefined",
                f"{path}.name: calls {_short(name)}, which is not among the example's tools "
                f"({known})",
            )
        args = fn.get("arguments")
        if not isinstance(args, str):
            self.err(
                "invalid_tool_call", f"{path}.arguments: must be a JSON string, not {_type(args)}"
            )
        else:
            self.text(f"{path}.arguments", args)
            if not _is_json(args):
                self.warn("tool_arguments_not_json", f"{path}.arguments: is not valid JSON")

    def tool_definitions(self, path: str, tools: Any, *, legacy: bool) -> None:
        if not isinstance(tools, list) or not tools:
            self.err("invalid_tool_definition", f"{path}: must be a non-empty array")
            return
        if legacy and len(tools) > MAX_FUNCTIONS:
            self.err("invalid_tool_definition", f"{path}: at most {MAX_FUNCTIONS} functions")
        for i, tool in enumerate(tools):
            where = f"{path}[{i}]"
            if not isinstance(tool, dict):
                self.err("invalid_tool_definition", f"{where}: must be an object")
                continue
            fn: Any = tool
            if not legacy:
                if tool.get("type") != "function":
                    self.err("invalid_tool_definition", f'{where}.type: must be "function"')
                fn = tool.get("function")
                where += ".function"
                if not isinstance(fn, dict):
                    self.err("invalid_tool_definition", f"{where}: must be an object")
                    continue
            name = fn.get("name")
            if not isinstance(name, str) or not _NAME_RE.match(name):
                self.err(
                    "invalid_tool_definition",
                    f"{where}.name: must be 1-64 letters, digits, '_' or '-', not {_short(name)}",
                )
            else:
                if self.defined is None:
                    self.defined = set()
                self.defined.add(name)
            params = fn.get("parameters")
            if params is not None and not isinstance(params, dict):
                self.err("invalid_tool_definition", f"{where}.parameters: must be a JSON schema")
            desc = fn.get("description")
            if desc is not None and not isinstance(desc, str):
                self.err("wrong_type", f"{where}.description: must be a string")

    def message(self, path: str, msg: Any, roles: frozenset[str], *, weights: bool) -> str | None:
        """Check one message; returns its role when it has a usable one."""
        if not isinstance(msg, dict):
            self.err("wrong_type", f"{path}: a message must be an object, not {_type(msg)}")
            return None
        role = msg.get("role")
        if role is None:
            self.err("missing_key", f'{path}: missing "role"')
            return None
        if not isinstance(role, str) or role not in roles:
            self.err(
                "invalid_role",
                f"{path}.role: {_short(role)} is not one of {', '.join(sorted(roles))}",
            )
            return None
        unknown = msg.keys() - _KEYS_BY_ROLE[role]
        if not weights:
            unknown = unknown | ({"weight"} & msg.keys())
        if unknown:
            if "weight" in unknown and role != "assistant":
                self.err(
                    "weight_not_assistant", f"{path}.weight: only assistant turns carry weight"
                )
                unknown = unknown - {"weight"}
            if unknown:
                self.err("unknown_key", f"{path}: unknown key {_names(unknown)} for role {role}")
        name = msg.get("name")
        if name is not None:
            if not isinstance(name, str):
                self.err("wrong_type", f"{path}.name: must be a string, not {_type(name)}")
            elif not _NAME_RE.match(name):
                self.err("invalid_name", f"{path}.name: must be 1-64 letters, digits, '_' or '-'")
        if "content" not in msg and role != "assistant":
            self.err("missing_key", f'{path}: missing "content"')
        if role == "assistant":
            has_call = "tool_calls" in msg or "function_call" in msg
            if "content" not in msg and not has_call:
                self.err("missing_key", f'{path}: missing "content" (or "tool_calls")')
            else:
                self.content(f"{path}.content", role, msg.get("content"), optional=has_call)
            if "tool_calls" in msg:
                self.tool_calls(f"{path}.tool_calls", msg["tool_calls"])
            if "function_call" in msg:
                self.function_call(f"{path}.function_call", msg["function_call"])
            if "weight" in msg and weights:
                weight = msg["weight"]
                if isinstance(weight, bool) or weight not in (0, 1):
                    self.err(
                        "invalid_weight", f"{path}.weight: must be 0 or 1, not {_short(weight)}"
                    )
        elif "content" in msg:
            self.content(f"{path}.content", role, msg["content"], optional=False)
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                self.err("missing_key", f"{path}: a tool message needs a tool_call_id string")
            elif call_id not in self.open_calls:
                answered = call_id in self.seen_calls
                self.err(
                    "tool_call_unmatched",
                    f"{path}.tool_call_id: {_short(call_id)} "
                    + ("was already answered" if answered else "matches no earlier tool call"),
                )
            else:
                self.open_calls.discard(call_id)
        return role

    def messages(
        self, path: str, messages: Any, roles: frozenset[str], *, weights: bool
    ) -> list[str | None]:
        if messages is None:
            self.err("missing_key", f'missing "{path}"')
            return []
        if not isinstance(messages, list):
            self.err("wrong_type", f"{path}: must be an array of messages, not {_type(messages)}")
            return []
        if not messages:
            self.err("empty_messages", f"{path}: must hold at least one message")
            return []
        return [
            self.message(f"{path}[{i}]", m, roles, weights=weights) for i, m in enumerate(messages)
        ]


def check_line(
    obj: Any,
    method: str,
    findings: list[Finding],
    file_method_line: int,
    provider: str = "openai",
) -> Example | None:
    """Check one parsed line against the file's method; an Example when it has no error.

    ``provider`` is the kind of provider the file is for: Together's formats
    differ from OpenAI's (see together_format).
    """
    if not isinstance(obj, dict):
        findings.append(
            Finding(ERROR, "not_object", f"a line must be a JSON object, not {_type(obj)}")
        )
        return None
    walk = _Walk(findings)
    before = len(findings)
    if provider == "together":
        from ftd.datasets.together_format import check_together

        example = check_together(walk, obj, method)
    elif method == DPO:
        example = _check_dpo(walk, obj)
    elif method == REINFORCEMENT:
        example = _check_rft(walk, obj)
    else:
        example = _check_sft(walk, obj)
    if walk.images > MAX_IMAGES_PER_EXAMPLE:
        walk.err(
            "too_many_images",
            f"{walk.images} images in one example; at most {MAX_IMAGES_PER_EXAMPLE} are allowed",
        )
    if example is None or any(f.severity == ERROR for f in findings[before:]):
        # Only a line that fails its file's format is asked which format it is in,
        # so valid lines skip the detection.
        looks_like = detect_method(obj)
        if looks_like not in (None, method) and not _compatible(method, looks_like, obj):
            del findings[before:]
            decided = f"decided by line {file_method_line}" if file_method_line else "as requested"
            findings.append(
                Finding(
                    ERROR,
                    "mixed_format",
                    f"this line is a {looks_like} example but the file is {method} "
                    f"({decided}); one file holds one format",
                )
            )
        return None
    example.images = walk.images
    return example


def _compatible(method: str, looks_like: str, obj: dict[str, Any]) -> bool:
    # A supervised line without an assistant turn looks like RFT; report the real defect.
    return method == SUPERVISED and looks_like == REINFORCEMENT and not (obj.keys() - SFT_TOP_KEYS)


def _check_sft(walk: _Walk, obj: dict[str, Any]) -> Example | None:
    unknown = obj.keys() - SFT_TOP_KEYS
    if unknown:
        walk.err("unknown_key", f"unknown key {_names(unknown)} at the top level")
    _check_tools_keys(walk, obj, "")
    roles = walk.messages("messages", obj.get("messages"), SFT_ROLES, weights=True)
    if not roles:
        return None
    messages: list[Mapping[str, Any]] = obj["messages"]
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if None not in roles:
        if not assistants:
            walk.err("no_assistant", "the example has no assistant turn to learn from")
        elif all(m.get("weight", 1) == 0 for m in assistants):
            walk.err("nothing_to_train", "every assistant turn has weight 0")
    return Example(
        messages=messages,
        tools=obj.get("tools") or obj.get("functions"),
        system_prompt=_system_prompt(messages),
    )


def _check_rft(walk: _Walk, obj: dict[str, Any]) -> Example | None:
    _check_tools_keys(walk, obj, "", legacy=False)
    roles = walk.messages("messages", obj.get("messages"), RFT_ROLES, weights=False)
    if not roles:
        return None
    if roles[-1] is not None and roles[-1] not in ("user", "developer"):
        walk.err(
            "rft_last_role",
            f"messages[{len(roles) - 1}]: a reinforcement prompt must end with a user or "
            f"developer turn, not {roles[-1]}",
        )
    messages: list[Mapping[str, Any]] = obj["messages"]
    return Example(
        messages=messages, tools=obj.get("tools"), system_prompt=_system_prompt(messages)
    )


def _check_dpo(walk: _Walk, obj: dict[str, Any]) -> Example | None:
    unknown = obj.keys() - DPO_TOP_KEYS
    if unknown:
        walk.err("unknown_key", f"unknown key {_names(unknown)} at the top level")
    inp = obj.get("input")
    messages: list[Mapping[str, Any]] = []
    if inp is None:
        walk.err("missing_key", 'missing "input"')
    elif not isinstance(inp, dict):
        walk.err("wrong_type", f"input: must be an object, not {_type(inp)}")
    else:
        extra = inp.keys() - DPO_INPUT_KEYS
        if extra:
            walk.err("unknown_key", f"input: unknown key {_names(extra)}")
        _check_tools_keys(walk, inp, "input.", legacy=False)
        roles = walk.messages("input.messages", inp.get("messages"), SFT_ROLES, weights=False)
        if roles and roles[-1] == "assistant":
            walk.err(
                "dpo_input_last_role",
                f"input.messages[{len(roles) - 1}]: the input must end with the turn the outputs "
                "answer, not an assistant turn",
            )
        if roles:
            messages = inp["messages"]
    outputs: list[Mapping[str, Any]] = []
    for key in ("preferred_output", "non_preferred_output"):
        value = obj.get(key)
        if value is None:
            walk.err("missing_key", f'missing "{key}"')
            continue
        if not isinstance(value, list) or len(value) != 1:
            walk.err("dpo_output", f"{key}: must be an array holding exactly one assistant message")
            continue
        role = walk.message(f"{key}[0]", value[0], frozenset({"assistant"}), weights=False)
        if role == "assistant":
            content = value[0].get("content")
            if not isinstance(content, str):
                walk.err("dpo_output", f"{key}[0].content: must be text")
            outputs.append(value[0])
    if len(outputs) == 2 and outputs[0].get("content") == outputs[1].get("content"):
        walk.warn("dpo_identical_outputs", "preferred and non-preferred outputs are identical")
    if not messages:
        return None
    tools = inp.get("tools") if isinstance(inp, dict) else None
    return Example(
        messages=messages, tools=tools, outputs=outputs, system_prompt=_system_prompt(messages)
    )


def _check_tools_keys(
    walk: _Walk, obj: dict[str, Any], prefix: str, *, legacy: bool = True
) -> None:
    if "tools" in obj:
        walk.tool_definitions(f"{prefix}tools", obj["tools"], legacy=False)
    if legacy and "functions" in obj:
        walk.tool_definitions(f"{prefix}functions", obj["functions"], legacy=True)
    ptc = obj.get("parallel_tool_calls")
    if ptc is not None and not isinstance(ptc, bool):
        walk.err("wrong_type", f"{prefix}parallel_tool_calls: must be true or false")
    fc = obj.get("function_call") if legacy else None
    if fc is not None and not isinstance(fc, str | dict):
        walk.err("wrong_type", f"{prefix}function_call: must be a string or an object")


def _system_prompt(messages: list[Mapping[str, Any]]) -> str | None:
    for m in messages:
        if isinstance(m, dict) and m.get("role") in ("system", "developer"):
            content = m.get("content")
            return content if isinstance(content, str) else str(content)
    return None


def _is_json(text: str) -> bool:
    import orjson

    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    """A value as JSON spells it (``true``, ``null``, ``"text"``), cut to 40 characters."""
    import orjson

    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _names(keys: set[str] | frozenset[str]) -> str:
    return ", ".join(_short(k) for k in sorted(keys, key=str))
