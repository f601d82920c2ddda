"""The summary from item rows: intervals, paired tests, verdicts, reliability, differences."""

from __future__ import annotations

from typing import Any

import pytest

from ftd.config.evaluation import EvaluationSettings
from ftd.evaluation.summary import (
    Collected,
    build_summary,
    largest_differences,
    summary_graders,
    summary_of,
)
from ftd.store.evaluations import EvaluationRow

SETTINGS = EvaluationSettings(
    graders=["exact", "f1", "judge", "pairwise"], resamples=1000, margins={"judge": 0.5}
)


def evaluation(base: str | None = "base") -> EvaluationRow:
    return EvaluationRow(
        id=1, kind="request", job_id=None, dataset_id=None, parent_id=None, model="cand",
        base_model=base, test_file="/t.jsonl", config={}, status="running", total_items=None,
        requests=10, cached_requests=2, prompt_tokens=100, completion_tokens=50, cost_usd=0.5,
        verdict=None, promoted=None, summary=None, promotion=None, error=None, created_at=0.0,
        started_at=None, finished_at=None, updated_at=0.0, report_path=None,
    )  # fmt: skip


def row(item: int, role: str, scores: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    return {
        "item": item,
        "role": role,
        "line": item + 1,
        "question": f"question {item}",
        "reference": f"reference {item}",
        "model": role,
        "response": None if error else f"{role} answer {item}",
        "scores": scores,
        "error": error,
    }


def scores(passed: bool, f1: float, judge: int, pairwise: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exact": {"score": float(passed), "passed": passed, "explanation": ""},
        "f1": {"score": f1, "explanation": ""},
        "judge": {"score": judge, "explanation": f"judged {judge}"},
    }
    if pairwise is not None:
        preference = {1.0: "candidate", 0.5: "tie", 0.0: "base"}[pairwise]
        out["pairwise"] = {
            "score": pairwise,
            "preference": preference,
            "orders": [preference, preference],
            "explanation": "closer",
        }
    return out


def test_a_clearly_better_candidate() -> None:
    rows = []
    for i in range(30):
        rows.append(row(i, "candidate", scores(i % 10 != 0, 0.9, 5, 1.0)))
        rows.append(row(i, "base", scores(i % 10 == 0, 0.2, 2)))
    summary = build_summary(evaluation(), rows, SETTINGS, total=30)
    assert summary["verdict"] == "better"
    assert summary["primary_grader"] == "judge"
    exact = summary["graders"]["exact"]
    assert exact["kind"] == "pass_fail"
    assert exact["test"] == "mcnemar"
    assert exact["p_value"] < 1e-4  # 27 discordant pairs for the candidate, 3 for the base
    assert exact["tally"] == {"wins": 27, "ties": 0, "losses": 3}
    judge = summary["graders"]["judge"]
    assert judge["candidate"]["estimate"] == 5
    assert judge["difference"]["estimate"] == pytest.approx(3)
    assert judge["margin"] == 0.5
    pairwise = summary["graders"]["pairwise"]
    assert pairwise["kind"] == "preference"
    assert pairwise["tally"]["wins"] == 30
    assert pairwise["verdict"] == "better"
    assert summary["judge"]["order_agreement"] == {"rate": 1.0, "kappa": None, "n": 30}
    assert summary["usage"]["cached_requests"] == 2
    assert summary["progress"] == {"done": 30, "total": 30, "errors": 0}


def test_errors_are_counted_not_scored_and_the_margin_decides() -> None:
    rows = []
    for i in range(20):
        rows.append(row(i, "candidate", scores(True, 0.5, 3 + (i % 2))))
        rows.append(row(i, "base", scores(True, 0.5, 3)))
    rows.append(row(20, "candidate", {}, error="chat: 503 (after 6 attempts)"))
    rows.append(row(20, "base", scores(True, 0.5, 3)))
    summary = build_summary(evaluation(), rows, SETTINGS)
    assert summary["progress"]["errors"] == 1
    assert summary["graders"]["judge"]["candidate"]["n"] == 20
    # A mean gain of 0.5 whose interval does not clear the 0.5 margin is no detectable difference.
    assert summary["verdict"] == "no_detectable_difference"
    assert summary["graders"]["exact"]["p_value"] == 1.0


def test_without_a_base_there_are_aggregates_but_no_comparison() -> None:
    rows = [row(i, "candidate", scores(True, 0.5, 4)) for i in range(5)]
    summary = build_summary(evaluation(base=None), rows, SETTINGS)
    assert "pairwise" not in summary["graders"]
    assert summary["graders"]["judge"]["candidate"]["estimate"] == 4
    assert summary["graders"]["judge"]["difference"] is None
    assert summary["verdict"] is None


def test_judge_self_agreement_from_the_repeated_sample() -> None:
    rows = []
    for i in range(10):
        candidate = scores(True, 0.5, 4, 0.5)
        candidate["judge"]["repeat_score"] = 4 if i < 8 else 3
        rows.append(row(i, "candidate", candidate))
        rows.append(row(i, "base", scores(True, 0.5, 4)))
    summary = build_summary(evaluation(), rows, SETTINGS)
    assert summary["judge"]["rubric_agreement"]["rate"] == 0.8
    assert summary["judge"]["rubric_agreement"]["n"] == 10


def test_largest_differences_come_first_with_both_answers_and_explanations() -> None:
    rows = []
    for i, (a, b) in enumerate([(5, 5), (5, 1), (2, 4), (3, 2)]):
        rows.append(row(i, "candidate", scores(True, 0.5, a)))
        rows.append(row(i, "base", scores(True, 0.5, b)))
    found = largest_differences(rows, "judge", limit=3)
    assert [d["item"] for d in found] == [1, 2, 3]
    first = found[0]
    assert first["difference"] == 4
    assert first["question"] == "question 1"
    assert first["reference"] == "reference 1"
    assert first["candidate"]["answer"] == "candidate answer 1"
    assert first["base"]["answer"] == "base answer 1"
    assert first["candidate"]["explanations"] == {"judge": "judged 5"}


def test_the_demos_normalized_grader_is_not_called_better() -> None:
    # The demo's 13 test items: 5 only the fine-tuned model gets right, none only the base.
    # Exact McNemar p = 0.0625: the pass/fail grader's verdict must not say better.
    rows = []
    for i in range(13):
        rows.append(row(i, "candidate", scores(i < 5, 0.9 if i < 5 else 0.3, 5)))
        rows.append(row(i, "base", scores(False, 0.2, 1)))
    settings = EvaluationSettings(graders=["normalized", "judge"], resamples=1000)
    for entry in rows:
        exact_score = entry["scores"].pop("exact")
        entry["scores"]["normalized"] = exact_score
    summary = build_summary(evaluation(), rows, settings, total=13)
    normalized = summary["graders"]["normalized"]
    assert normalized["test"] == "mcnemar"
    assert normalized["p_value"] == pytest.approx(0.0625)
    assert normalized["verdict"] == "too_few_items"
    assert "0.0625" in normalized["verdict_reason"]
    assert normalized["difference"]["low"] <= 0.0
    # every candidate judge score is 5: a degenerate interval, flagged, not a certainty
    judge = summary["graders"]["judge"]
    assert judge["candidate"]["degenerate"] is True
    assert judge["candidate"]["low"] == judge["candidate"]["high"] == 5
    assert judge["verdict"] == "better"
    assert judge["test"] == "permutation"


def test_rows_streamed_in_chunks_give_the_summary_of_the_rows_read_whole() -> None:
    rows = []
    for i in range(40):
        rows.append(
            row(i, "candidate", scores(i % 3 != 0, (i % 7) / 7, 1 + i % 5, [1.0, 0.5, 0.0][i % 3]))
        )
        if i != 11:  # one item without its base side
            rows.append(row(i, "base", scores(i % 2 == 0, (i % 5) / 5, 1 + i % 4)))
    rows.append(row(40, "candidate", {}, error="timed out"))
    rows.append(row(40, "base", {}, error="timed out"))
    whole = build_summary(evaluation(), rows, SETTINGS, total=41)
    collected = Collected(summary_graders(evaluation(), SETTINGS))
    for start in range(0, 41, 3):  # chunks of three items, each item whole
        collected.add_rows([r for r in rows if start <= r["item"] < start + 3])
    assert summary_of(evaluation(), collected, SETTINGS, total=41) == whole
    assert (collected.answers, collected.failed_answers) == (41, 1)
    assert collected.first_failure == "timed out"
    assert whole["progress"] == {"done": 41, "total": 41, "errors": 1}
