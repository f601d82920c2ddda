"""Axis maths for the charts: round tick values, their labels, and data-to-pixel scales.

Ticks fall on 1, 2 or 5 times a power of ten, so that a reader can
interpolate between them; the axis range is widened to the outer ticks so the
data never touches the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NICE_STEPS = (1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Axis:
    """An axis's range and its ticks; ``low`` and ``high`` are the outer ticks."""

    low: float
    high: float
    step: float
    ticks: tuple[float, ...]

    def label(self, value: float) -> str:
        return tick_label(value, self.step)


def nice_step(span: float, max_ticks: int) -> float:
    """The smallest round step that cuts ``span`` into at most ``max_ticks - 1`` parts."""
    if max_ticks < 2:
        raise ValueError(f"an axis needs at least 2 ticks, got max_ticks={max_ticks}")
    if not math.isfinite(span) or span <= 0:
        raise ValueError(f"an axis span must be a positive number, got {span}")
    raw = span / (max_ticks - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in NICE_STEPS:
        step = factor * power
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 * power  # pragma: no cover - NICE_STEPS ends at 10


def nice_axis(low: float, high: float, max_ticks: int = 6) -> Axis:
    """An axis covering [low, high] with at most ``max_ticks`` round ticks.

    A single value (low == high) gets a range around it; reversed bounds are
    swapped. Non-finite bounds are a caller's error and say so. Three ticks
    at least: a range across zero cannot always land on two round ones.
    """
    if max_ticks < 3:
        raise ValueError(f"an axis needs room for at least 3 ticks, got max_ticks={max_ticks}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"axis bounds must be finite numbers, got {low} and {high}")
    if low > high:
        low, high = high, low
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low, max_ticks)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    while round((last - first) / step) + 1 > max_ticks:
        step = _next_step(step)
        first = math.floor(low / step + 1e-9) * step
        last = math.ceil(high / step - 1e-9) * step
    count = round((last - first) / step) + 1
    ticks = tuple(_clean(first + i * step, step) for i in range(count))
    return Axis(ticks[0], ticks[-1], step, ticks)


def integer_axis(low: float, high: float, max_ticks: int = 6) -> Axis:
    """A nice axis whose ticks are whole numbers (steps, counts)."""
    axis = nice_axis(low, high, max_ticks)
    if axis.step >= 1:
        return axis
    top = max(math.ceil(high), math.floor(low) + 1)
    bottom = math.floor(low)
    return Axis(float(bottom), float(top), 1.0, tuple(float(v) for v in range(bottom, top + 1)))


def tight(axis: Axis, low: float, high: float) -> Axis:
    """The axis cut to exactly [low, high], keeping the ticks inside: the data fills the width."""
    ticks = tuple(t for t in axis.ticks if low - 1e-9 * axis.step <= t <= high + 1e-9 * axis.step)
    return Axis(low, high, axis.step, ticks)


def _next_step(step: float) -> float:
    power = 10.0 ** math.floor(math.log10(step) + 1e-9)
    for factor in NICE_STEPS:
        if factor * power > step * (1 + 1e-9):
            return factor * power
    return 10.0 * power  # pragma: no cover - NICE_STEPS ends at 10


def _clean(value: float, step: float) -> float:
    """Round away float noise such as 0.30000000000000004 at the step's precision."""
    return round(value, max(0, _decimals(step)) + 2) + 0.0


def _decimals(step: float) -> int:
    """How many decimals a label needs to tell ticks ``step`` apart."""
    decimals = 0
    while decimals < 12 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return decimals


def tick_label(value: float, step: float) -> str:
    """A tick's text: thousands separated, as many decimals as the step needs, no "-0"."""
    decimals = _decimals(step)
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


@dataclass(frozen=True, slots=True)
class Scale:
    """Maps a data interval onto a pixel interval (which may run backwards, as y does)."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return (self.start + self.end) / 2
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)
