"""Axis maths: round steps, ticks that cover the data, labels, and scales."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftd.report.axes import Scale, integer_axis, nice_axis, nice_step, tick_label


@pytest.mark.parametrize(
    ("span", "ticks", "step"),
    [(1.0, 6, 0.2), (10.0, 6, 2.0), (9.0, 6, 2.0), (100.0, 11, 10.0), (0.03, 4, 0.01), (7, 2, 10)],
)
def test_steps_are_one_two_or_five_times_a_power_of_ten(
    span: float, ticks: int, step: float
) -> None:
    assert nice_step(span, ticks) == pytest.approx(step)


def test_axis_examples() -> None:
    assert nice_axis(0.0, 1.0).ticks == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert nice_axis(0.03, 2.87).ticks == (0.0, 1.0, 2.0, 3.0)
    assert nice_axis(0, 1234).ticks == (0.0, 500.0, 1000.0, 1500.0)
    assert nice_axis(-0.2, 0.7).ticks == (-0.2, 0.0, 0.2, 0.4, 0.6, 0.8)
    assert nice_axis(5.0, 1.0) == nice_axis(1.0, 5.0)  # reversed bounds are swapped


def test_a_single_value_gets_a_range_around_it() -> None:
    axis = nice_axis(2.0, 2.0)
    assert axis.low < 2.0 < axis.high
    zero = nice_axis(0.0, 0.0)
    assert zero.low < 0.0 < zero.high


def test_integer_axes_tick_whole_numbers() -> None:
    assert integer_axis(0, 3).ticks == (0.0, 1.0, 2.0, 3.0)
    assert all(t == int(t) for t in integer_axis(1, 7, max_ticks=9).ticks)
    assert integer_axis(0, 60, max_ticks=9).ticks == (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0)


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-3, 1e6, allow_nan=False),
    st.integers(3, 12),
)
def test_ticks_cover_the_data_evenly_and_stay_few(low: float, span: float, most: int) -> None:
    high = low + span
    axis = nice_axis(low, high, most)
    slack = 1e-6 * axis.step  # rounding noise, far below a pixel
    assert axis.low <= low + slack
    assert axis.high >= high - slack
    assert 2 <= len(axis.ticks) <= most
    gaps = [b - a for a, b in zip(axis.ticks, axis.ticks[1:], strict=False)]
    assert all(math.isclose(g, axis.step, rel_tol=1e-6) for g in gaps)
    mantissa = axis.step / 10 ** math.floor(math.log10(axis.step) + 1e-12)
    assert round(mantissa, 6) in (1.0, 2.0, 5.0, 10.0)


def test_labels_have_just_enough_decimals() -> None:
    assert tick_label(0.4, 0.2) == "0.4"
    assert tick_label(0.25, 0.05) == "0.25"
    assert tick_label(12000.0, 2000.0) == "12,000"
    assert tick_label(-0.0, 0.5) == "0.0"  # never "-0.0"


def test_bad_bounds_are_named() -> None:
    with pytest.raises(ValueError, match="finite"):
        nice_axis(0.0, math.inf)
    with pytest.raises(ValueError, match="at least 2 ticks"):
        nice_step(1.0, 1)
    with pytest.raises(ValueError, match="at least 3 ticks"):
        nice_axis(0.0, 1.0, 2)


def test_scales_map_and_flip() -> None:
    y = Scale(0.0, 10.0, 300.0, 20.0)  # y grows downwards on screen
    assert y(0.0) == 300.0
    assert y(10.0) == 20.0
    assert y(5.0) == 160.0
    assert Scale(1.0, 1.0, 0.0, 100.0)(1.0) == 50.0
