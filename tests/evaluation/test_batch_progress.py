"""A batch's progress while it runs: the provider's request counts, or its percentage done."""

from __future__ import annotations

from ftd.evaluation.batch.stages import counts_so_far
from ftd.providers.batches import IN_PROGRESS, RemoteBatch
from ftd.store.batches import BatchRow


def batch_row(requests: int) -> BatchRow:
    return BatchRow(
        id=1,
        evaluation_id=1,
        stage="answers",
        tag="ftd-e1-t-0",
        path="/p",
        model="m",
        requests=requests,
        bytes=100,
        file_id="f",
        batch_id="b",
        status=IN_PROGRESS,
        completed=0,
        failed=0,
        committed=0,
        committed_lines=0,
        error=None,
        created_at=0.0,
        updated_at=0.0,
    )


def test_openais_counts_are_shown_as_told() -> None:
    remote = RemoteBatch("b", IN_PROGRESS, total=400, completed=120, failed=3)
    assert counts_so_far(batch_row(400), remote) == (120, 3)


def test_togethers_percentage_is_shown_as_that_share_of_the_requests() -> None:
    row = batch_row(25_000)
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS, progress=37.5)) == (9375, 0)
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS, progress=0.0)) == (0, 0)
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS, progress=100.0)) == (25_000, 0)
    # Neither counts nor a percentage: nothing known yet.
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS)) == (0, 0)
