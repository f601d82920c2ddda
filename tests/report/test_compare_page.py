"""The comparison page: every run in each table and chart, verdicts in words, text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from ftd.report.compare_page import render_comparison


def _run(number: int, epochs: object, curve: list[list[float]], mean: float) -> dict[str, Any]:
    return {
        "run": f"run-{number}",
        "run_id": number,
        "dataset_id": 1,
        "name": "faq.jsonl",
        "state": "submitted",
        "settings": {
            "model": "gpt-4.1-mini-2025-04-14",
            "provider": "default",
            "hyperparameters": {"n_epochs": epochs},
        },
        "estimated_cost_usd": 0.1,
        "job": {"job_id": f"ftjob-{number}", "status": "succeeded", "cost_usd": 0.09},
        "curve": curve,
        "evaluation": {
            "evaluation": f"eval-{number}",
            "status": "succeeded",
            "cost_usd": 0.01,
            "scores": {
                "f1": {
                    "kind": "score",
                    "mean": {"estimate": mean, "low": mean - 0.1, "high": mean + 0.05, "n": 12},
                }
            },
        },
    }


def _answer() -> dict[str, Any]:
    second = _run(2, 2, [[1, 1.5], [2, 0.9]], 0.7)
    second["differs"] = {"hyperparameters.n_epochs": {"first": "auto", "this": 2}}
    second["name"] = "<faq>.jsonl"
    return {
        "dataset_id": 1,
        "name": "<faq>.jsonl",
        "generated_at": 1_800_000_000.0,
        "confidence": 0.95,
        "runs": [_run(1, "auto", [[1, 2.0], [2, 1.2], [3, 0.8]], 0.8), second],
        "pairs": [
            {
                "first": "run-1",
                "second": "run-2",
                "items": 12,
                "graders": {
                    "f1": {
                        "difference": {"estimate": 0.1, "low": 0.02, "high": 0.2},
                        "test": "permutation",
                        "verdict": "better",
                        "verdict_reason": "p = 0.004 < 0.05",
                    }
                },
            }
        ],
    }


def test_the_page_holds_every_run_the_curves_the_scores_and_the_verdict() -> None:
    page = render_comparison(_answer())
    assert "&lt;faq&gt;.jsonl" in page
    assert "<faq>" not in page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL):
        ET.fromstring(svg)  # noqa: S314 - our own page: well-formed
    assert page.count("<svg") == 2  # one loss chart for both runs, one score chart
    assert "run-1 training loss" in page
    assert "run-2 training loss" in page
    assert "hyperparameters.n_epochs" in page
    assert "p = 0.004 &lt; 0.05" in page
    assert "run-1 vs run-2" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_runs_without_an_evaluation_or_curve_still_render() -> None:
    answer = _answer()
    for run in answer["runs"]:
        run["curve"] = []
        run["evaluation"] = None
    answer["pairs"] = [
        {
            "first": "run-1",
            "second": "run-2",
            "items": 0,
            "graders": {},
            "missing": "an evaluation is missing",
        }
    ]
    page = render_comparison(answer)
    assert "<svg" not in page
    assert "an evaluation is missing" in page
