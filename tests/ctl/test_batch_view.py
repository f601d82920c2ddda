"""A batch evaluation's lines in ``ftd show`` and ``ftd watch``."""

from __future__ import annotations

from ftd.ctl import batch_view
from ftd.ctl.follow import snapshot_lines

BATCHES = {
    "mode": "batch",
    "reason": "evaluation.mode is batch; the openai batch engine at half price",
    "stages": {
        "answers": {"batches": 2, "requests": 20, "completed": 18, "failed": 1, "pending": 1},
    },
    "failed_requests": 1,
}


def test_show_names_the_mode_the_stages_and_the_cost_against_live() -> None:
    lines = dict(batch_view.stage_lines(BATCHES))
    assert lines["mode"].startswith("batch: evaluation.mode is batch")
    assert lines["stage answers"] == "2 batches, 18 completed, 1 failed, 1 pending"
    assert lines["failed in batches"] == "1 requests (retried)"
    assert batch_view.stage_lines(None) == []
    cost = batch_view.cost_line(
        {"cost_comparison": {"spent_usd": 1.5, "batch_usd": 1.5, "live_usd": 3.0}}
    )
    assert cost is not None
    assert "live would have cost" in cost
    assert batch_view.cost_line({}) is None


def test_watch_shows_each_stage_of_a_running_batch_evaluation() -> None:
    view = {
        "at": 1_700_000_000.0,
        "jobs": [],
        "evaluations": [
            {"id": 7, "model": "ft:m", "status": "running", "progress": {"done": 0, "total": 10},
             "batches": BATCHES},
            {"id": 8, "model": "ft:n", "status": "running", "progress": {"done": 1, "total": 10}},
        ],
    }  # fmt: skip
    lines = snapshot_lines(view)
    notes = [line for line in lines if "batch:" in line]
    assert notes == ["  eval-7 batch: answers 18/20 (1 failed, 1 pending)"]
