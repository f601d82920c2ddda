"""The lines Together's fine-tuning accepts: its conversational and preference formats.

Together checks a file before it trains (its client's file check and the
server's), and refuses what OpenAI would take: a role other than system,
user, assistant or tool; two turns of one role in a row; a conversation that
opens with an assistant turn; an image given by an http URL instead of a
base64 data URL; a column other than the format's own. It also takes what
OpenAI refuses: a ``weight`` (0 or 1) on any turn, not only the assistant's,
and a preference input that opens with an assistant turn. The rules here
follow Together's data-preparation and preference-tuning pages and its
client's checks; a finding names the line (by the caller) and the field.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from ftd.catalog import DPO
from ftd.datasets.formats import Example, _names, _short, _system_prompt, _type, _Walk
from ftd.datasets.images import data_url_problem

if TYPE_CHECKING:
    from collections.abc import Mapping

TOGETHER: Final = "together"
# The model ``ftd validate --provider together`` counts for when none is named.
DEFAULT_MODEL: Final = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

ROLES = frozenset({"system", "user", "assistant", "tool"})
FIRST_ROLES = frozenset({"system", "user"})
SFT_COLUMNS = frozenset({"messages", "tools"})
DPO_COLUMNS = frozenset({"input", "preferred_output", "non_preferred_output"})
# Keys a turn may carry that Together reads; others are ignored by it, so only warned about.
MESSAGE_KEYS = frozenset({"role", "content", "weight", "name", "tool_calls", "tool_call_id"})
MAX_IMAGES = 10
_DATA_IMAGE_RE = re.compile(r"^data:image/(jpeg|png|webp);base64,", re.I)


def check_together(walk: _Walk, obj: dict[str, Any], method: str) -> Example | None:
    """Check one parsed line as Together would, for ``method`` (supervised or dpo)."""
    if method == DPO:
        return _check_preference(walk, obj)
    return _check_conversation(walk, obj)


def _check_conversation(walk: _Walk, obj: dict[str, Any]) -> Example | None:
    extra = obj.keys() - SFT_COLUMNS
    if extra:
        walk.err(
            "unknown_key",
            f"unknown key {_names(extra)} at the top level; Together refuses columns other "
            "than messages (and tools)",
        )
    if "tools" in obj:
        walk.tool_definitions("tools", obj["tools"], legacy=False)
    turns = _turns(walk, "messages", obj.get("messages"), opening=True)
    if turns is None:
        return None
    messages: list[Mapping[str, Any]] = obj["messages"]
    roles = [role for role, _ in turns]
    if None not in roles:
        if "assistant" not in roles:
            walk.err("no_assistant", "messages: Together needs at least one assistant turn")
        elif _nothing_trained(messages):
            walk.err("nothing_to_train", "messages: every assistant turn has weight 0")
        elif roles[-1] != "assistant":
            walk.warn(
                "last_turn_not_assistant",
                f"messages[{len(roles) - 1}]: the last turn is {roles[-1]}, so nothing after "
                "the last assistant turn is learnt",
            )
    return Example(
        messages=messages, tools=obj.get("tools"), system_prompt=_system_prompt(messages)
    )


def _nothing_trained(messages: list[Mapping[str, Any]]) -> bool:
    """Whether weights leave no turn to learn from.

    With a weight on any turn Together trains every turn by its weight (1 when
    it has none), so only a conversation weighted 0 throughout teaches nothing.
    """
    turns = [m for m in messages if isinstance(m, dict)]
    if not any("weight" in m for m in turns):
        return False
    return all(m.get("weight", 1) == 0 for m in turns)


def _check_preference(walk: _Walk, obj: dict[str, Any]) -> Example | None:
    extra = obj.keys() - DPO_COLUMNS
    if extra:
        walk.err(
            "unknown_key",
            f"unknown key {_names(extra)} at the top level; Together's preference lines hold "
            "input, preferred_output and non_preferred_output only",
        )
    inp = obj.get("input")
    messages: list[Mapping[str, Any]] = []
    if inp is None:
        walk.err("missing_key", 'missing "input"')
    elif not isinstance(inp, dict):
        walk.err("wrong_type", f"input: must be an object, not {_type(inp)}")
    elif "messages" not in inp:
        walk.err("missing_key", 'input: missing "messages"')
    else:
        ignored = inp.keys() - {"messages"}
        if ignored:
            walk.warn(
                "ignored_key",
                f"input: Together reads only messages; {_names(ignored)} is ignored",
            )
        # Together's own example opens the input with an assistant turn: no opening rule here.
        turns = _turns(walk, "input.messages", inp["messages"], opening=False)
        if turns:
            messages = inp["messages"]
            last = turns[-1][0]
            if last == "assistant":
                walk.warn(
                    "dpo_input_last_role",
                    f"input.messages[{len(turns) - 1}]: the input ends with an assistant turn, "
                    "so the outputs answer no question",
                )
    outputs: list[Mapping[str, Any]] = []
    for key in ("preferred_output", "non_preferred_output"):
        value = obj.get(key)
        if value is None:
            walk.err("missing_key", f'missing "{key}"')
            continue
        if not isinstance(value, list) or len(value) != 1:
            walk.err("dpo_output", f"{key}: must be an array holding exactly one assistant message")
            continue
        answer = value[0]
        if not isinstance(answer, dict) or answer.get("role") != "assistant":
            role = answer.get("role") if isinstance(answer, dict) else None
            walk.err("dpo_output", f"{key}[0].role: must be assistant, not {_short(role)}")
            continue
        content = answer.get("content")
        if not isinstance(content, str):
            walk.err("dpo_output", f"{key}[0].content: must be text, not {_type(content)}")
            continue
        if not content.strip():
            walk.err("empty_content", f"{key}[0].content: content is empty")
            continue
        _weight(walk, f"{key}[0]", answer)
        outputs.append(answer)
    if len(outputs) == 2 and outputs[0].get("content") == outputs[1].get("content"):
        walk.warn("dpo_identical_outputs", "preferred and non-preferred outputs are identical")
    if not messages:
        return None
    return Example(messages=messages, outputs=outputs, system_prompt=_system_prompt(messages))


def _turns(
    walk: _Walk, path: str, messages: Any, *, opening: bool
) -> list[tuple[str | None, int]] | None:
    """(role, images) per turn, or None when ``messages`` is no list of turns at all."""
    if messages is None:
        walk.err("missing_key", f'missing "{path}"')
        return None
    if not isinstance(messages, list):
        walk.err("wrong_type", f"{path}: must be an array of messages, not {_type(messages)}")
        return None
    if not messages:
        walk.err("empty_messages", f"{path}: must hold at least one message")
        return None
    turns: list[tuple[str | None, int]] = []
    previous: str | None = None
    kinds: set[bool] = set()  # whether each turn's content is a list of parts
    images = 0
    for i, msg in enumerate(messages):
        where = f"{path}[{i}]"
        role = _role(walk, where, msg)
        if role is None:
            turns.append((None, 0))
            previous = None
            continue
        assert isinstance(msg, dict)
        if i == 0 and opening and role not in FIRST_ROLES:
            walk.err(
                "first_role",
                f"{where}.role: Together wants a conversation to open with a system or user "
                f"turn, not {role}",
            )
        if role == previous and role != "tool":
            walk.err(
                "role_order",
                f"{where}.role: a second {role} turn in a row; Together wants user and "
                "assistant turns to alternate",
            )
        if role == "system" and i > 0:
            walk.err("role_order", f"{where}.role: a system turn may only open the conversation")
        previous = role
        ignored = msg.keys() - MESSAGE_KEYS
        if ignored:
            walk.warn("ignored_key", f"{where}: Together ignores {_names(ignored)}")
        weight = _weight(walk, where, msg)
        found = _content(walk, where, role, msg, kinds)
        if found and weight not in (None, 0):
            walk.err(
                "weighted_image",
                f"{where}.weight: a turn holding images must have weight 0 on Together",
            )
        images += found
        if role == "assistant" and "tool_calls" in msg:
            walk.tool_calls(f"{where}.tool_calls", msg["tool_calls"])
        turns.append((role, found))
    if len(kinds) > 1:
        walk.err(
            "mixed_content",
            f"{path}: Together wants every turn's content either as text or as a list of parts, "
            "not both in one example",
        )
    if images > MAX_IMAGES:
        walk.err("too_many_images", f"{path}: {images} images; Together takes at most {MAX_IMAGES}")
    return turns


def _role(walk: _Walk, where: str, msg: Any) -> str | None:
    if not isinstance(msg, dict):
        walk.err("wrong_type", f"{where}: a message must be an object, not {_type(msg)}")
        return None
    role = msg.get("role")
    if role is None:
        walk.err("missing_key", f'{where}: missing "role"')
        return None
    if not isinstance(role, str) or role not in ROLES:
        walk.err(
            "invalid_role",
            f"{where}.role: {_short(role)} is not a role Together takes "
            f"({', '.join(sorted(ROLES))})",
        )
        return None
    return role


def _weight(walk: _Walk, where: str, msg: Mapping[str, Any]) -> int | None:
    if "weight" not in msg:
        return None
    weight = msg["weight"]
    if isinstance(weight, bool) or not isinstance(weight, int) or weight not in (0, 1):
        walk.err("invalid_weight", f"{where}.weight: must be 0 or 1, not {_short(weight)}")
        return None
    return weight


def _content(walk: _Walk, where: str, role: str, msg: Mapping[str, Any], kinds: set[bool]) -> int:
    """Check a turn's content; returns the number of images in it."""
    if "content" not in msg or msg["content"] is None:
        if role == "assistant" and "tool_calls" in msg:
            return 0
        walk.err("missing_key", f'{where}: missing "content"')
        return 0
    content = msg["content"]
    path = f"{where}.content"
    if isinstance(content, str):
        kinds.add(False)
        if not content.strip():
            walk.warn("empty_content", f"{path}: content is empty")
        return 0
    if not isinstance(content, list):
        walk.err(
            "wrong_type", f"{path}: must be a string or an array of parts, not {_type(content)}"
        )
        return 0
    kinds.add(True)
    images = 0
    for i, part in enumerate(content):
        at = f"{path}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict):
            walk.err("invalid_content_part", f"{at}: a content part must be an object")
        elif kind == "text":
            if not isinstance(part.get("text"), str):
                walk.err(
                    "wrong_type", f"{at}.text: must be a string, not {_type(part.get('text'))}"
                )
        elif kind == "image_url":
            images += 1
            if role != "user":
                walk.err("invalid_content_part", f"{at}: Together takes images in user turns only")
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str):
                walk.err("invalid_image", f"{at}.image_url: must be an object with a url string")
            elif not _DATA_IMAGE_RE.match(url):
                walk.err(
                    "invalid_image",
                    f"{at}.image_url.url: Together takes only base64 data URLs of JPEG, PNG or "
                    "WEBP images, not links",
                )
            else:
                problem = data_url_problem(url)
                if problem is not None:
                    walk.err("invalid_image", f"{at}.image_url.url: {problem}")
        else:
            walk.err(
                "invalid_content_part",
                f'{at}.type: must be "text" or "image_url", not {_short(kind)}',
            )
    return images
