"""Report views filled with every kind of data, for the page tests, the browser and the bench."""

from __future__ import annotations

import math
from typing import Any

from ftd.report.views import (
    CheckpointMark,
    DatasetView,
    EvaluationView,
    EventView,
    Finding,
    HistogramBin,
    IssueView,
    JobView,
    MetricPoint,
    ReportView,
    epoch_ends,
)

HOSTILE = "<script>alert('x')</script> & \"quotes\" </svg><img src=x onerror=alert(1)>"
START = 1_750_000_000.0


def dataset(name: str = "support.jsonl") -> DatasetView:
    return DatasetView(
        name=name,
        state="submitted",
        dataset_id=3,
        accepted=True,
        model="gpt-4.1-mini-2025-04-14",
        method="supervised",
        lines=212,
        examples=209,
        invalid_examples=3,
        errors=(),
        warnings=(
            IssueView("duplicate_example", 2, (Finding(40, None, "same example as line 3"),)),
            IssueView("few_examples", 1, (Finding(None, None, "49 examples"),)),
        ),
        token_histogram=(
            HistogramBin(64, 127, 21),
            HistogramBin(128, 255, 180),
            HistogramBin(256, 511, 8),
        ),
        median_tokens=139,
        total_tokens=29_583,
        trained_tokens=12_078,
        n_epochs=3,
        billed_tokens=88_749,
        estimated_cost_usd=0.4437,
        estimate_note="88,749 training tokens at $5 per 1M",
        splits=(("train", 170), ("validation", 19), ("test", 20)),
    )


def metrics(steps: int = 60, n_epochs: int = 3) -> tuple[MetricPoint, ...]:
    out = []
    for step in range(1, steps + 1):
        train = 2.2 * math.exp(-step / 18) + 0.25 + 0.08 * math.sin(step * 1.7)
        valid = train + 0.12 if step % 6 == 0 else None
        epoch_end = step % (steps // n_epochs) == 0
        out.append(
            MetricPoint(
                step=step,
                train_loss=round(train, 4),
                train_accuracy=round(1 - train / 3, 4),
                valid_loss=round(valid, 4) if valid else None,
                valid_accuracy=round(1 - valid / 3, 4) if valid else None,
                full_valid_loss=round(train + 0.1, 4) if epoch_end else None,
                full_valid_accuracy=round(1 - (train + 0.1) / 3, 4) if epoch_end else None,
            )
        )
    return tuple(out)


def job(job_id: str = "ftjob-abc123") -> JobView:
    points = metrics()
    model = "ft:gpt-4.1-mini-2025-04-14:ftd:support:AbC123"
    return JobView(
        job_id=job_id,
        status="succeeded",
        model="gpt-4.1-mini-2025-04-14",
        fine_tuned_model=model,
        created_at=START,
        finished_at=START + 900,
        metrics=points,
        epoch_ends=epoch_ends(points, 3),
        checkpoints=(
            CheckpointMark(20, f"{model}:ckpt-step-20"),
            CheckpointMark(40, f"{model}:ckpt-step-40"),
        ),
        trained_tokens=88_749,
        estimated_cost_usd=0.4437,
        cost_usd=0.4437,
        events=(
            EventView(START, "info", "Created fine-tuning job", "message"),
            EventView(START + 10, "info", "Validating training file", "message"),
            EventView(START + 60, "info", "Fine-tuning job started", "message"),
            EventView(START + 61, "info", "Step 1/60: training loss=2.41", "metrics"),
            EventView(START + 890, "info", "New fine-tuned model created", "message"),
            EventView(START + 900, "info", "The job has successfully completed", "message"),
        ),
    )


def summary() -> dict[str, Any]:
    """An evaluation summary in the shape the evaluation stores."""

    def interval(estimate: float, width: float, n: int = 20) -> dict[str, float | int]:
        return {"estimate": estimate, "low": estimate - width, "high": estimate + width, "n": n}

    return {
        "evaluation_id": 7,
        "model": "ft:gpt-4.1-mini-2025-04-14:ftd:support:AbC123",
        "base_model": "gpt-4.1-mini-2025-04-14",
        "status": "succeeded",
        "progress": {"done": 20, "total": 20, "errors": 0},
        "confidence": 0.95,
        "primary_grader": "judge",
        "verdict": "better",
        "graders": {
            "judge": {
                "kind": "score",
                "candidate": interval(4.35, 0.3),
                "base": interval(2.6, 0.35),
                "difference": interval(1.75, 0.4),
                "tally": {"wins": 15, "ties": 4, "losses": 1},
                "test": "permutation",
                "p_value": 0.0005,
                "verdict": "better",
                "verdict_reason": "p = 0.0005 < 0.05",
            },
            "exact_match": {
                "kind": "pass_fail",
                "candidate": interval(0.45, 0.2),
                "base": interval(0.05, 0.05),
                "difference": interval(0.4, 0.2),
                "tally": {"wins": 8, "ties": 12, "losses": 0},
                "test": "mcnemar",
                "p_value": 0.0078,
                "verdict": "better",
            },
            "pairwise": {
                "kind": "preference",
                "candidate": interval(0.8, 0.12),
                "base": None,
                "difference": interval(0.6, 0.24),
                "tally": {"wins": 14, "ties": 4, "losses": 2},
                "test": "sign",
                "p_value": 0.004,
                "verdict": "better",
            },
        },
        "judge": {
            "model": "gpt-4.1-2025-04-14",
            "rubric_agreement": {"rate": 0.9, "kappa": 0.82, "n": 10},
            "order_agreement": {"rate": 0.85, "kappa": 0.7, "n": 20},
        },
        "usage": {
            "requests": 120,
            "cached_requests": 0,
            "prompt_tokens": 41_000,
            "completion_tokens": 9_800,
        },
        "cost_usd": 0.0312,
    }


def differences() -> list[dict[str, Any]]:
    return [
        {
            "item": 4,
            "line": 12,
            "question": "Hi, can I return the oak side table I bought?",
            "reference": "You can return most items within 30 days of delivery.",
            "difference": 3.0,
            "candidate": {
                "model": "ft:gpt-4.1-mini-2025-04-14:ftd:support:AbC123",
                "answer": "You can return most items within 30 days of delivery, unused.",
                "score": 5,
                "explanations": {"judge": "States the 30-day window and conditions."},
            },
            "base": {
                "model": "gpt-4.1-mini-2025-04-14",
                "answer": "Return policies vary; please check the store's website.",
                "score": 2,
                "explanations": {"judge": "Generic; misses the policy."},
            },
        }
    ]


def evaluation() -> EvaluationView:
    return EvaluationView.from_summary(summary(), differences())


def full_report() -> ReportView:
    return ReportView(
        title="ftd report: support.jsonl",
        generated_at=START + 1000,
        dataset=dataset(),
        job=job(),
        evaluation=evaluation(),
    )
