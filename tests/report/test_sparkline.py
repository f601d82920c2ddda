"""The terminal sparkline: levels, resampling, gaps, and the stdlib-only promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftd.report.sparkline import BLOCKS, resample, sparkline


def test_lowest_and_highest_take_the_end_blocks() -> None:
    assert sparkline([3.0, 2.0, 1.0, 0.0]) == "█" + BLOCKS[5] + BLOCKS[2] + "▁"
    assert sparkline([0.0, 7.0]) == "▁█"


def test_each_level_is_reachable_in_order() -> None:
    assert sparkline([float(v) for v in range(8)]) == BLOCKS


def test_a_flat_series_sits_at_mid_height() -> None:
    assert sparkline([0.5] * 5) == BLOCKS[3] * 5


def test_unknown_and_non_finite_values_are_gaps() -> None:
    assert sparkline([1.0, None, float("nan"), 0.0, float("inf")]) == "█  ▁ "
    assert sparkline([None, None]) == "  "
    assert sparkline([]) == ""


def test_long_series_are_averaged_down_to_the_width() -> None:
    values = [float(i % 2) for i in range(1000)]  # alternating 0, 1: every share averages 0.5
    assert sparkline(values, width=50) == BLOCKS[3] * 50  # shares of 20: flat at mid height
    falling = sparkline([1000.0 - i for i in range(1000)], width=10)
    assert len(falling) == 10
    assert falling[0] == "█"
    assert falling[-1] == "▁"
    assert list(falling) == sorted(falling, reverse=True)


def test_resample_keeps_gaps_and_means() -> None:
    assert resample([1.0, 3.0, None, None, 5.0, 7.0], 3) == [2.0, None, 6.0]
    assert resample([1.0, 2.0], 10) == [1.0, 2.0]  # never stretched


def test_a_width_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="width must be at least 1, got 0"):
        sparkline([1.0], width=0)


def test_importing_it_loads_nothing_heavy() -> None:
    code = (
        "import sys; from ftd.report.sparkline import sparkline; sparkline([1.0, 2.0]); "
        "heavy = [m for m in ('ftd.store', 'ftd.report.page', 'aiosqlite', 'openai', "
        "'pydantic', 'structlog') if m in sys.modules]; print(','.join(heavy))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == ""
