"""A made-up notification of every kind, for ``ftd notify test``: what a destination will get.

The figures are invented but shaped as the real ones, so a receiver's parser
and a person's eye are tried on the same fields that real events carry.
"""

from __future__ import annotations

import time
from typing import Any

from ftd.config.notify import EVENT_KINDS
from ftd.store.outbox import Notification

_JOB = "ftjob-sample0000000000000000"
_MODEL = "gpt-4.1-mini-2025-04-14"
_TUNED = "ft:gpt-4.1-mini-2025-04-14:sample::abc12345"
_PAYLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    "dataset_rejected": (
        "dataset 0 (sample.jsonl)",
        {
            "dataset_id": 0,
            "dataset": "sample.jsonl",
            "errors": 2,
            "first_errors": ["line 4: not JSON", "line 9: messages[1].content: content is empty"],
        },
    ),
    "approval_waiting": (
        "dataset 0 (sample.jsonl)",
        {
            "dataset_id": 0,
            "dataset": "sample.jsonl",
            "training_usd": 61.2,
            "evaluation_usd": 0.4,
            "limit_usd": 50.0,
            "reason": "estimated $61.20 training + $0.40 evaluation = $61.60, over $50.00",
            "approve_command": "ftd approve 0",
        },
    ),
    "job_succeeded": (
        f"job {_JOB}",
        {
            "job_id": _JOB,
            "model": _MODEL,
            "fine_tuned_model": _TUNED,
            "trained_tokens": 120_000,
            "cost_usd": 0.36,
            "dataset_id": 0,
            "dataset": "sample.jsonl",
        },
    ),
    "job_failed": (
        f"job {_JOB}",
        {
            "job_id": _JOB,
            "model": _MODEL,
            "error_code": "invalid_training_file",
            "message": "The job failed due to an invalid training file.",
            "dataset_id": 0,
            "dataset": "sample.jsonl",
        },
    ),
    "job_cancelled": (f"job {_JOB}", {"job_id": _JOB, "model": _MODEL, "dataset_id": 0}),
    "evaluation_verdict": (
        "evaluation 0",
        {
            "evaluation_id": 0,
            "job_id": _JOB,
            "model": _TUNED,
            "base_model": _MODEL,
            "status": "succeeded",
            "verdict": "better",
            "primary_grader": "judge",
            "graders": {
                "judge": {
                    "candidate": {"estimate": 4.15, "low": 3.9, "high": 4.4, "n": 40},
                    "base": {"estimate": 3.1, "low": 2.8, "high": 3.4, "n": 40},
                    "verdict": "better",
                    "reason": "p = 0.001 < 0.05",
                }
            },
            "error": None,
        },
    ),
    "deployment_running": (
        "deployment ftd-sample",
        {
            "deployment_id": 0,
            "name": "ftd-sample",
            "model": _TUNED,
            "provider": "default",
            "job_id": _JOB,
            "hours": 24.2,
            "threshold_hours": 24.0,
            "cost_usd": 41.14,
        },
    ),
    "model_retiring": (
        f"model {_MODEL}",
        {"model": _MODEL, "shutdown": "2027-01-01", "days_left": 30, "fine_tuned_models": [_TUNED]},
    ),
    "daemon_blocked": (
        "daemon: disk_full",
        {"reason": "disk_full", "message": "12 MiB free on the file system of /var/lib/ftd"},
    ),
    "daemon_unblocked": (
        "daemon: disk_full",
        {"reason": "disk_full", "message": "blocked for 340 s; 2048 MiB free", "seconds": 340.0},
    ),
}
assert set(_PAYLOADS) == set(EVENT_KINDS)


def sample(kind: str) -> Notification:
    subject, payload = _PAYLOADS[kind]
    return Notification(0, kind, subject, {**payload, "sample": True}, time.time())
