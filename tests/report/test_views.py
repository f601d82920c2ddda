"""View models from the validator's report and the evaluation summary; epoch boundaries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftd.datasets.validate import Options, validate_file
from ftd.report.fields import ReportDataError
from ftd.report.views import (
    DatasetView,
    EvaluationView,
    HistogramBin,
    MetricPoint,
    Tally,
    epoch_ends,
)
from tests.report import samples

DATA = Path(__file__).resolve().parents[2] / "ftd" / "demo" / "data"
TIKTOKEN = "TIKTOKEN_CACHE_DIR" in os.environ


@pytest.mark.skipif(not TIKTOKEN, reason="needs the tokenizer files (TIKTOKEN_CACHE_DIR)")
def test_a_real_validator_report_maps_fully() -> None:
    report = validate_file(
        DATA / "support-extra.jsonl",
        Options(model="gpt-4.1-mini-2025-04-14", prices=lambda _m: (5.0, None), workers=1),
    ).to_json()
    view = DatasetView.from_report(json.loads(json.dumps(report)), name="support-extra.jsonl")
    assert view.accepted is False
    assert view.examples == report["examples"]
    assert view.invalid_examples == 5
    kinds = {i.kind for i in view.errors}
    assert {"invalid_json", "invalid_role", "no_assistant", "missing_key"} <= kinds
    assert all(s.line is not None for i in view.errors for s in i.samples)
    assert sum(b.count for b in view.token_histogram) == report["examples"]
    assert view.estimated_cost_usd == report["estimate"]["cost_usd"]
    assert view.n_epochs == report["estimate"]["n_epochs"]


def test_histogram_gaps_are_filled_with_empty_bins() -> None:
    report = {"stats": {"token_histogram": [[2, 3, 5], [16, 31, 2]]}}
    view = DatasetView.from_report(report, name="d")
    assert view.token_histogram == (
        HistogramBin(2, 3, 5),
        HistogramBin(4, 7, 0),
        HistogramBin(8, 15, 0),
        HistogramBin(16, 31, 2),
    )
    assert view.token_histogram[0].label == "2–3"  # noqa: RUF001 - the label uses an en dash
    assert HistogramBin(1, 1, 4).label == "1"


def test_a_report_with_little_in_it_still_maps() -> None:
    view = DatasetView.from_report({"accepted": False, "errors": []}, name="x", state="failed")
    assert (view.accepted, view.token_histogram, view.estimated_cost_usd) == (False, (), None)
    assert DatasetView.from_report(None, name="y").accepted is None


@pytest.mark.parametrize(
    ("report", "where"),
    [
        ({"examples": "many"}, "dataset d report.examples: expected a number"),
        ({"errors": [{"kind": "x", "count": 1.5}]}, r"errors\[0\]\.count: expected a whole"),
        ({"stats": {"token_histogram": [[1, 2]]}}, r"token_histogram\[0\]"),
        ({"estimate": []}, "report.estimate: expected an object"),
        ({"accepted": "yes"}, "accepted: expected true or false"),
    ],
)
def test_wrong_shapes_say_where(report: dict[str, object], where: str) -> None:
    with pytest.raises(ReportDataError, match=where):
        DatasetView.from_report(report, name="d")


def test_summary_maps_every_grader_and_item() -> None:
    view = EvaluationView.from_summary(samples.summary(), samples.differences())
    assert view.verdict == "better"
    assert view.primary_grader == "judge"
    assert [g.name for g in view.graders] == ["judge", "exact_match", "pairwise"]
    judge = view.graders[0]
    assert judge.candidate is not None
    assert judge.candidate.estimate == 4.35
    assert (judge.candidate.low, judge.candidate.high) == pytest.approx((4.05, 4.65))
    assert judge.candidate.n == 20
    assert judge.tally == Tally(15, 4, 1)
    assert judge.p_value == 0.0005
    assert view.graders[2].base is None
    assert view.rubric_agreement is not None
    assert view.rubric_agreement.kappa == 0.82
    assert view.judge_model == "gpt-4.1-2025-04-14"
    assert (view.prompt_tokens, view.completion_tokens, view.cost_usd) == (41_000, 9_800, 0.0312)
    item = view.items[0]
    assert item.prompt.startswith("Hi, can I return")
    assert item.candidate.score == 5
    assert item.base.text is not None
    assert item.candidate.explanations == (("judge", "States the 30-day window and conditions."),)


def test_summary_of_a_run_without_base_or_judge() -> None:
    view = EvaluationView.from_summary(
        {"model": "ft:x", "graders": {"exact_match": {"kind": "pass_fail", "candidate": None}}}
    )
    assert view.base_model is None
    assert view.graders[0].candidate is None
    assert view.rubric_agreement is None
    with pytest.raises(ReportDataError, match=r"graders\.judge\.p_value: expected a number"):
        EvaluationView.from_summary({"graders": {"judge": {"p_value": "low"}}})


def points(steps: int, full_at: tuple[int, ...] = ()) -> list[MetricPoint]:
    return [
        MetricPoint(step=s, train_loss=1.0, full_valid_loss=0.5 if s in full_at else None)
        for s in range(1, steps + 1)
    ]


def test_epoch_ends_come_from_full_validation_first() -> None:
    assert epoch_ends(points(30, (10, 20, 30)), n_epochs=3) == (10, 20, 30)
    assert epoch_ends(points(30, (10, 20, 30)), n_epochs=None) == (10, 20, 30)


def test_epoch_ends_from_the_step_count_otherwise() -> None:
    assert epoch_ends(points(12), n_epochs=4) == (3, 6, 9, 12)
    assert epoch_ends(points(5), n_epochs=None) == ()
    assert epoch_ends(points(7), n_epochs=3) == ()  # not an even split: unknown, not guessed
    # A running job: its steps so far, with the planned total from the events.
    assert epoch_ends(points(8), n_epochs=3, total_steps=30) == (10, 20, 30)
    # Full validation seen for only some epochs so far: the even split wins.
    assert epoch_ends(points(15, (10,)), n_epochs=3, total_steps=30) == (10, 20, 30)
