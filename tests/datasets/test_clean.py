"""The one-walk path for plain supervised lines agrees with the full checker and TokenCounter."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftd.datasets.clean import clean_supervised
from ftd.datasets.formats import Finding, check_line
from ftd.datasets.tokens import TokenCounter

if TYPE_CHECKING:
    from collections.abc import Callable

DATA = Path(__file__).resolve().parents[1] / "data" / "datasets"
COUNTER = TokenCounter("gpt-4.1-mini-2025-04-14")


def agrees(obj: Any) -> bool:
    """Whether the one walk took the line; fails the test where it takes one it must not."""
    counted = clean_supervised(obj, COUNTER) if type(obj) is dict else None
    if counted is None:
        return False
    findings: list[Finding] = []
    example = check_line(obj, "supervised", findings, 1)
    assert findings == [], (obj, findings)
    assert example is not None
    total, trained = COUNTER.example(example.messages, example.tools, example.outputs)
    assert (counted.total, counted.trained) == (total, trained), obj
    assert counted.messages == len(example.messages)
    assert counted.system_prompt == example.system_prompt
    return True


def test_corpus_lines_agree() -> None:
    taken = 0
    for path in sorted(DATA.glob("*.jsonl")):
        for raw in path.read_bytes().splitlines():
            try:
                obj = orjson.loads(raw.strip().removeprefix(b"\xef\xbb\xbf"))
            except orjson.JSONDecodeError:
                continue
            taken += agrees(obj)
    assert taken >= 40  # tools.jsonl, bom_crlf.jsonl, the valid defects lines


def test_the_benchmark_data_is_taken_by_the_one_walk() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from validate import example
    finally:
        sys.path.pop(0)
    rng = random.Random(5)
    lines = [json.loads(json.dumps(example(rng, n))) for n in range(300)]
    assert all(agrees(line) for line in lines)


texts = st.sampled_from(["Hello there.", "", "  \n", "use <|endoftext|> here", "naïve 東京", "x"])
good_texts = st.sampled_from(["Hello there.", "naïve 東京", "x", "Is order A12 late?", "<|fine"])
weights = st.sampled_from([0, 1, True, False, 2, 0.0, 1.0, None, "1"])
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, 2, 0.0, "", " ", "x", "<|endoftext|>", [], [{}], {}, "bad name!",
    "lookup", "call_0", "not json", '{"a": 1}', "system", "user", "assistant", "tool",
    "function", "developer", "code", [{"type": "text", "text": "hi"}],
]  # fmt: skip
KEYS = [
    "role", "content", "name", "weight", "tool_calls", "tool_call_id", "refusal",
    "function_call", "id", "type", "function", "arguments", "description", "parameters",
    "tools", "parallel_tool_calls", "functions", "messages", "extra",
]  # fmt: skip


def _dicts(value: Any) -> list[dict[str, Any]]:
    found = [value] if isinstance(value, dict) else []
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    )
    for child in children:
        found.extend(_dicts(child))
    return found


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid conversation, often with tool calls, then up to two small defects."""
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        role = draw(st.sampled_from(["system", "developer"]))
        messages.append({"role": role, "content": draw(good_texts)})
    obj: dict[str, Any] = {"messages": messages}
    if draw(st.booleans()):
        obj["tools"] = [
            {
                "type": "function",
                "function": {"name": "lookup", "description": "Looks up.", "parameters": {}},
            }
        ]
    for turn in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(good_texts)})
        if draw(st.booleans()):
            call = {"name": "lookup", "arguments": '{"a": 1}'}
            call_id = f"call_{turn}"
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": call_id, "type": "function", "function": call}],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": draw(good_texts)})
        answer: dict[str, Any] = {"role": "assistant", "content": draw(good_texts)}
        if draw(st.booleans()):
            answer["weight"] = draw(st.sampled_from([0, 1]))
        if draw(st.booleans()):
            answer["name"] = "bob"
        messages.append(answer)
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(_dicts(obj)))
        key = draw(st.sampled_from(sorted(target) or KEYS) | st.sampled_from(KEYS))
        if draw(st.booleans()):
            target[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))  # never shared
        else:
            target.pop(key, None)
    return obj


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(obj=near_valid())
def test_generated_lines_agree(obj: dict[str, Any]) -> None:
    agrees(obj)


@settings(max_examples=300, deadline=None)
@given(
    turns=st.lists(st.tuples(texts, texts, weights), min_size=1, max_size=4),
    system=texts | st.none(),
)
def test_plain_conversations_agree(turns: list[tuple[str, str, Any]], system: str | None) -> None:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    for user, reply, weight in turns:
        messages.append({"role": "user", "content": user})
        answer: dict[str, Any] = {"role": "assistant", "content": reply}
        if weight is not None:
            answer["weight"] = weight
        messages.append(answer)
    agrees({"messages": messages})


def _base() -> dict[str, Any]:
    return {
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        "messages": [
            {"role": "system", "content": "You look orders up."},
            {"role": "user", "content": "Where is A12?", "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"id": "A12"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
            {"role": "assistant", "content": "It has shipped.", "weight": 1},
        ],
    }


def _call(obj: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = obj["messages"][2]["tool_calls"][0]
    return call


DEFECTS: dict[str, Callable[[dict[str, Any]], object]] = {
    "undefined function": lambda o: _call(o)["function"].update(name="cancel"),
    "arguments not JSON": lambda o: _call(o)["function"].update(arguments="{id: A12}"),
    "arguments an object": lambda o: _call(o)["function"].update(arguments={"id": 1}),
    "special token in arguments": lambda o: _call(o)["function"].update(arguments='"<|im_end|>"'),
    "no tools": lambda o: o.pop("tools"),
    "tools null": lambda o: o.update(tools=None),
    "tool_calls null": lambda o: o["messages"][2].update(tool_calls=None),
    "tool_calls empty": lambda o: o["messages"][2].update(tool_calls=[]),
    "call id reused": lambda o: o["messages"][2]["tool_calls"].append(dict(_call(o))),
    "call type": lambda o: _call(o).update(type="code"),
    "tool answers nothing": lambda o: o["messages"][3].update(tool_call_id="c2"),
    "tool answered twice": lambda o: o["messages"].insert(4, dict(o["messages"][3])),
    "bad name": lambda o: o["messages"][1].update(name="ann smith"),
    "name not text": lambda o: o["messages"][1].update(name=5),
    "blank content": lambda o: o["messages"][1].update(content=" \t"),
    "special token": lambda o: o["messages"][0].update(content="hi <|endoftext|>"),
    "weight true": lambda o: o["messages"][4].update(weight=True),
    "weight 2": lambda o: o["messages"][4].update(weight=2),
    "weight 0 everywhere": lambda o: [o["messages"][i].update(weight=0) for i in (2, 4)],
    "weight on a user": lambda o: o["messages"][1].update(weight=1),
    "unknown key": lambda o: o["messages"][4].update(mood="happy"),
    "unknown top key": lambda o: o.update(mood="happy"),
    "role unknown": lambda o: o["messages"][1].update(role="bot"),
    "role missing": lambda o: o["messages"][1].pop("role"),
    "content missing": lambda o: o["messages"][4].pop("content"),
    "parallel_tool_calls text": lambda o: o.update(parallel_tool_calls="yes"),
    "tool definition untyped": lambda o: o["tools"][0].pop("type"),
    "tool definition bad name": lambda o: o["tools"][0]["function"].update(name="a b"),
    "tool parameters text": lambda o: o["tools"][0]["function"].update(parameters="x"),
    "no assistant": lambda o: [o["messages"].pop(i) for i in (4, 3, 2)],
}


def test_the_base_line_is_taken() -> None:
    assert agrees(_base())


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_is_left_to_the_full_checker(defect: str) -> None:
    obj = _base()
    DEFECTS[defect](obj)
    assert clean_supervised(obj, COUNTER) is None
    findings: list[Finding] = []
    check_line(obj, "supervised", findings, 1)
    assert findings, "the full checker must have something to say"
