"""The demo's bundled example: as generated, accepted clean, rejected where it should be."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ftd.datasets.validate import Options, validate_file
from tests.demo.generate_data import DATA_DIR, SYSTEM, TOPICS, render

MODEL = "gpt-4.1-mini-2025-04-14"


def test_the_committed_files_are_what_the_generator_writes() -> None:
    for name, content in render().items():
        assert (DATA_DIR / name).read_text(encoding="utf-8") == content, (
            f"{name} differs: run python -m tests.demo.generate_data"
        )


def test_the_support_set_is_accepted_clean() -> None:
    report = validate_file(DATA_DIR / "support.jsonl", Options(model=MODEL, workers=1))
    assert report.accepted
    assert 150 <= report.examples <= 250
    assert report.invalid_examples == 0
    assert report.warnings == []  # no duplicates, one system prompt, enough examples
    assert report.estimate is not None
    assert report.estimate.cost_usd is not None
    assert report.estimate.cost_usd < 1.0


def test_every_topic_is_there_with_one_consistent_answer() -> None:
    lines = (DATA_DIR / "support.jsonl").read_text(encoding="utf-8").splitlines()
    answers: Counter[str] = Counter()
    for line in lines:
        messages = json.loads(line)["messages"]
        assert messages[0] == {"role": "system", "content": SYSTEM}
        assert [m["role"] for m in messages[1:3]] == ["user", "assistant"]
        answers[messages[2]["content"].split(".")[0][-40:]] += 1
    assert len(lines) >= 8 * len(TOPICS)
    # Answers repeat per topic (the policy), though order numbers and items vary.
    assert max(answers.values()) >= 5


def test_the_extra_file_is_rejected_with_line_numbers() -> None:
    report = validate_file(DATA_DIR / "support-extra.jsonl", Options(model=MODEL, workers=1))
    assert not report.accepted
    kinds = {issue.kind: issue for issue in report.errors}
    assert set(kinds) == {
        "invalid_json",
        "invalid_role",
        "no_assistant",
        "missing_key",
        "empty_content",
    }
    lines = sorted(s.line for issue in report.errors for s in issue.samples if s.line)
    assert len(lines) == 5
    assert report.invalid_examples == 5
    assert report.examples >= 25  # the rest are good lines


@pytest.mark.parametrize("name", ["support.jsonl", "support-extra.jsonl"])
def test_the_data_names_no_url(name: str) -> None:
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    assert "http://" not in text
    assert "https://" not in text
