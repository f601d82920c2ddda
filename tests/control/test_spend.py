"""The month a charge is counted in: the first instant of the UTC month, whatever the zone."""

from __future__ import annotations

import datetime

from ftd.control.handlers.spend import month_start


def test_month_start_is_the_first_of_the_utc_month() -> None:
    moment = datetime.datetime(2026, 12, 1, 0, 0, 1, tzinfo=datetime.UTC).timestamp()
    assert month_start(moment) == datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC).timestamp()
    late = datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=datetime.UTC).timestamp()
    assert month_start(late) == datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC).timestamp()
