"""No line, however mangled, crashes the validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftd.datasets.chunk import Job, validate_lines
from ftd.datasets.formats import Finding, check_line

JOBS = [
    Job("x", m, 1, "gpt-4.1-mini-2025-04-14", 65_536, 3)
    for m in ("supervised", "dpo", "reinforcement")
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "messages",
                    "tool_calls",
                    "weight",
                    "name",
                    "type",
                    "text",
                    "image_url",
                    "url",
                    "function",
                    "arguments",
                    "id",
                    "input",
                    "preferred_output",
                    "non_preferred_output",
                    "tools",
                    "tool_call_id",
                    "detail",
                    "parameters",
                    "properties",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)

roles = st.sampled_from(["system", "user", "assistant", "tool", "developer", "function", "x"])
messages = st.lists(
    st.fixed_dictionaries(
        {"role": roles},
        optional={
            "content": json_values,
            "weight": json_values,
            "tool_calls": json_values,
            "tool_call_id": json_values,
            "name": json_values,
        },
    ),
    max_size=5,
)
shaped = st.fixed_dictionaries(
    {"messages": messages}, optional={"tools": json_values}
) | st.fixed_dictionaries(
    {
        "input": st.fixed_dictionaries({"messages": messages}),
        "preferred_output": messages,
        "non_preferred_output": messages,
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values | shaped)
def test_any_json_value_is_checked_without_crashing(value: Any) -> None:
    for job in JOBS:
        findings: list[Finding] = []
        example = check_line(value, job.method, findings, 1)
        assert (example is None) == any(f.severity == "error" for f in findings) or example is None
        result = validate_lines(job, json.dumps(value).encode() + b"\n", 1)
        assert result.valid + result.invalid == 1


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_are_checked_without_crashing(data: bytes) -> None:
    for job in JOBS:
        result = validate_lines(job, data, 1)
        assert result.lines == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=3000))
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    line = b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
    result = validate_lines(JOBS[0], line, 1)
    assert result.invalid == 1


def test_mangled_corpus_lines(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parents[1] / "data" / "datasets" / "supervised_defects.jsonl"
    for raw in corpus.read_bytes().splitlines():
        for cut in range(0, len(raw), max(1, len(raw) // 15)):
            for mangled in (raw[:cut], raw[cut:], raw[:cut] + b"\x00" + raw[cut:]):
                result = validate_lines(JOBS[0], mangled, 7)
                assert result.lines == (1 if mangled else 0)


@pytest.mark.parametrize("levels", [200, 300, 1000])
def test_a_valid_example_nested_deeper_than_the_writer_allows_is_an_error(levels: int) -> None:
    # orjson reads 1,024 levels but writes 255; a line in between once stopped the file.
    deep = b"[" * levels + b"]" * levels
    line = b'{"messages": [{"role": "user", "content": "hi"}], "extra": ' + deep + b"}\n"
    result = validate_lines(Job("x", "reinforcement", 1, "o4-mini-2025-04-16", 65_536, 3), line, 1)
    assert result.lines == 1
    if levels < 255:
        assert (result.valid, result.invalid) == (1, 0)
    else:
        assert (result.valid, result.invalid) == (0, 1)
        [(_line, _column, message)] = result.errors["invalid_json"].samples
        assert message == "not JSON: nested too deeply (over 255 levels)"
