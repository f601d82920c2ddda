"""Views gathered from a store that a real job, trained at the emulator, has filled."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftd.report.gather import NotInStore, dataset_view, job_view, report_view
from ftd.report.page import render
from ftd.store import Store
from tests.emulator.helpers import FakeClock
from tests.report.realjob import N_EPOCHS, run_job

pytestmark = pytest.mark.anyio


async def test_a_tracked_job_becomes_a_full_view(store: Store, tmp_path: Path) -> None:
    dataset_id, job_id = await run_job(store, FakeClock(), tmp_path)

    dataset = await dataset_view(store, dataset_id)
    assert dataset.name == "support.jsonl"
    assert dataset.accepted is True
    assert dataset.examples == 209
    assert dataset.token_histogram
    assert sum(b.count for b in dataset.token_histogram) == 209
    assert dataset.estimated_cost_usd is not None
    assert dataset.estimated_cost_usd > 0
    assert [side for side, _ in dataset.splits] == ["train", "validation"]

    job = await job_view(store, job_id)
    assert job.status == "succeeded"
    assert job.fine_tuned_model is not None
    steps = [m.step for m in job.metrics]
    assert steps == sorted(steps)
    assert steps[-1] == len(steps)
    assert all(m.train_loss is not None for m in job.metrics)
    assert any(m.valid_loss is not None for m in job.metrics)
    # Epoch ends: as many as the epochs asked for, the last one at the final step,
    # and the full-validation points fall on them.
    assert len(job.epoch_ends) == N_EPOCHS
    assert job.epoch_ends[-1] == steps[-1]
    full = [m.step for m in job.metrics if m.full_valid_loss is not None]
    assert full == list(job.epoch_ends)
    assert job.checkpoints
    assert {c.step for c in job.checkpoints} <= set(job.epoch_ends)
    assert job.trained_tokens is not None
    assert job.cost_usd is not None
    assert job.estimated_cost_usd == dataset.estimated_cost_usd
    messages = [e.message for e in job.events]
    assert any("completed" in m.lower() or "succeeded" in m.lower() for m in messages)
    assert [e.at for e in job.events] == sorted(e.at for e in job.events)

    whole = await report_view(store, dataset_id=dataset_id, clock=lambda: 1.0)
    assert whole.job == job
    assert whole.dataset == dataset
    assert (await report_view(store, job_id=job_id)).dataset == dataset
    page = render(whole)
    assert job_id in page
    assert "Full validation" in page


async def test_missing_rows_are_named(store: Store) -> None:
    with pytest.raises(NotInStore, match=r"dataset 41: not found in .*ftd\.db"):
        await dataset_view(store, 41)
    with pytest.raises(NotInStore, match="job ftjob-nope: not found"):
        await job_view(store, "ftjob-nope")


async def test_a_rejected_dataset_without_a_job(store: Store) -> None:
    row = await store.add_dataset(sha256="ab" * 32, name="bad.jsonl", path="/x", size_bytes=3)
    report = {
        "path": "bad.jsonl",
        "accepted": False,
        "errors": [
            {"kind": "bad_sidecar", "count": 1, "samples": [{"line": None, "message": "bad key"}]}
        ],
        "warnings": [],
    }
    assert await store.transition(row.id, "detected", "rejected", report=report)
    view = await report_view(store, dataset_id=row.id)
    assert view.job is None
    assert view.dataset is not None
    assert view.dataset.accepted is False
    assert view.dataset.errors[0].kind == "bad_sidecar"
    assert view.dataset.token_histogram == ()
    page = render(view)
    assert "bad_sidecar" in page
    assert 'id="training"' not in page
