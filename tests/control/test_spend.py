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
        figures = await spend(store, "openai", now)
        assert figures["by_profile"]["openai"]["evaluation"] == {"month": 0.25, "all_time": 0.75}
    finally:
        await store.close()
