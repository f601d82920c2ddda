"""The month a charge is counted in: the first instant of the UTC month, whatever the zone."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from ftd.control.handlers.spend import month_start, spend
from ftd.store import Store


def test_month_start_is_the_first_of_the_utc_month() -> None:
    moment = datetime.datetime(2026, 12, 1, 0, 0, 1, tzinfo=datetime.UTC).timestamp()
    assert month_start(moment) == datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC).timestamp()
    late = datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=datetime.UTC).timestamp()
    assert month_start(late) == datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC).timestamp()


@pytest.mark.anyio
async def test_recorded_answers_count_as_evaluation_spend(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        now = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC).timestamp()
        async with store.transaction() as tx:
            await tx.execute(
                "INSERT INTO evaluations (kind, model, test_file, config, status, cost_usd, "
                "created_at, updated_at) VALUES ('request', 'm', '/t', '{}', 'succeeded', 0.25, "
                "?, ?)",
                (now, now),
            )
            await tx.execute(
                "INSERT INTO recordings (name, model, test_file, params, origin, status, "
                "cost_usd, created_at, updated_at) VALUES ('kept', 'm', '/t', '{}', 'request', "
                "'succeeded', 0.5, ?, ?)",
                (now - 40 * 86_400, now),  # last month's
            )
        figures = await spend(store, "default", now)
        assert figures["by_profile"]["default"]["evaluation"] == {"month": 0.25, "all_time": 0.75}
    finally:
        await store.close()


@pytest.mark.anyio
async def test_spend_is_counted_at_each_jobs_profile_and_hosting_by_the_hour(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    try:
        now = datetime.datetime(2026, 12, 2, 12, tzinfo=datetime.UTC).timestamp()
        start = month_start(now)
        async with store.transaction() as tx:
            for job, profile, cost in (("ftjob-a", "default", 1.0), ("ftjob-b", "azure", 2.0)):
                await tx.execute(
                    "INSERT INTO jobs (job_id, status, model, created_at, updated_at, "
                    "finished_at, cost_usd, provider) VALUES (?, 'succeeded', 'm', ?, ?, ?, ?, ?)",
                    (job, now, now, now, cost, profile),
                )
            await tx.execute(
                "INSERT INTO evaluations (kind, job_id, model, test_file, config, status, "
                "cost_usd, created_at, updated_at) VALUES ('job', 'ftjob-b', 'm', '/t', '{}', "
                "'succeeded', 0.5, ?, ?)",
                (now, now),
            )
            # Up from two hours before this month began until an hour into it, at $3/h.
            await tx.execute(
                "INSERT INTO deployments (provider, name, model, job_id, role, state, "
                "hourly_usd, created_at, updated_at, deleted_at) VALUES ('azure', 'd', 'm', "
                "'ftjob-b', 'candidate', 'deleted', 3.0, ?, ?, ?)",
                (start - 7200, start + 3600, start + 3600),
            )
        figures = (await spend(store, "default", now))["by_profile"]
        assert figures["default"] == {
            "training": {"month": 1.0, "all_time": 1.0},
            "evaluation": {"month": 0.0, "all_time": 0.0},
            "hosting": None,
        }
        assert figures["azure"] == {
            "training": {"month": 2.0, "all_time": 2.0},
            "evaluation": {"month": 0.5, "all_time": 0.5},
            "hosting": {"month": 3.0, "all_time": 9.0},
        }
    finally:
        await store.close()
