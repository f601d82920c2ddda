"""Structured outputs validate against whatever schema is asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from ftd.emulator.judge import PairwiseVerdict, RubricVerdict, judge
from ftd.emulator.schema_instance import build_instance


def no_suggestion(name: str | None, schema: Mapping[str, Any]) -> object:
    return None


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    bounded = st.integers(min_value=-50, max_value=50)
    integer = st.builds(
        lambda low, span: {"type": "integer", "minimum": low, "maximum": low + span},
        bounded,
        st.integers(min_value=0, max_value=10),
    )
    number = st.builds(
        lambda low: {"type": "number", "exclusiveMinimum": low},
        st.floats(min_value=-5, max_value=5),
    )
    string = st.builds(
        lambda low, extra: {"type": "string", "minLength": low, "maxLength": low + extra},
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=5),
    )
    enum = st.lists(st.text(max_size=4), min_size=1, max_size=4, unique=True).map(
        lambda v: {"enum": v}
    )
    simple = st.sampled_from([{"type": "boolean"}, {"type": "null"}, {"type": ["string", "null"]}])
    return st.one_of(integer, number, string, enum, simple)


schemas = st.recursive(
    leaf_schemas(),
    lambda inner: st.one_of(
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=4).map(
            lambda props: {
                "type": "object",
                "properties": props,
                "required": sorted(props),
                "additionalProperties": False,
            }
        ),
        st.builds(
            lambda items, low: {
                "type": "array",
                "items": items,
                "minItems": low,
                "maxItems": low + 2,
            },
            inner,
            st.integers(min_value=0, max_value=3),
        ),
        st.lists(inner, min_size=1, max_size=3).map(lambda options: {"anyOf": options}),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(schema=schemas)
def test_generated_instances_validate(schema: dict[str, Any]) -> None:
    jsonschema.validate(build_instance(schema, no_suggestion), schema)


def test_suggestions_are_used_only_when_they_fit() -> None:
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 10},
            "grade": {"enum": [1, 2, 3, 4, 5]},
            "reason": {"type": "string", "maxLength": 12},
            "passed": {"type": "boolean"},
        },
        "required": ["score", "grade", "reason", "passed"],
    }
    verdict = RubricVerdict(f1=0.5)
    instance = build_instance(schema, verdict.suggest)
    jsonschema.validate(instance, schema)
    assert instance["score"] == 5  # 0.5 of the way from 0 to 10
    assert instance["grade"] == 3
    assert instance["passed"] is True
    assert len(instance["reason"]) == 12


def test_judge_prompts_are_recognised_by_their_tags() -> None:
    rubric = judge(
        "Use <reference> and <candidate> tags.\n"
        "<reference>a b c</reference><candidate>a b c</candidate>"
    )
    assert isinstance(rubric, RubricVerdict)
    assert rubric.score == 5
    pairwise = judge("<reference>x y</reference><answer_a>x y</answer_a><answer_b>z</answer_b>")
    assert isinstance(pairwise, PairwiseVerdict)
    assert pairwise.winner == "A"
    enum_schema = {"enum": ["Response A", "Response B", "Tie"]}
    assert build_instance(enum_schema, pairwise.suggest) == "Response A"
    assert judge("no tags here") is None
    assert judge("<reference>only a reference</reference>") is None
