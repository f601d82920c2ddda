"""Horizontal bar charts for an evaluation: means with confidence whiskers, and win/tie/loss.

Both read in greyscale: the bars are labelled in words, and shades differ in
lightness as well as in hue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftd.report.axes import Scale, nice_axis
from ftd.report.svg import (
    INK,
    MUTED,
    SMALL_FONT,
    STYLES,
    WIDTH,
    esc,
    num,
    svg_root,
    text,
    text_width,
    x_axis_elements,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

ROW_HEIGHT = 40.0
BAR_HEIGHT = 22.0


@dataclass(frozen=True, slots=True)
class IntervalBar:
    """One row: a label, a point estimate and its interval."""

    label: str
    estimate: float
    low: float
    high: float
    style: int = 0


def interval_chart(
    rows: Sequence[IntervalBar],
    *,
    title: str,
    axis_label: str,
    include: Sequence[float] = (0.0,),
    digits: int = 2,
    width: float = WIDTH,
) -> str:
    """Bars from the axis start to each estimate, whiskers over its interval, figures beside.

    ``include`` widens the axis to hold values such as 0 and 1 (a pass rate's
    full range), so models are compared against the whole scale.
    """
    if not rows:
        raise ValueError(f"chart {title!r} has no rows")
    values = [v for r in rows for v in (r.low, r.high, r.estimate)] + list(include)
    axis = nice_axis(min(values), max(values), max_ticks=7)
    label_width = max(text_width(r.label) for r in rows) + 16
    figure_width = max(text_width(_figures(r, digits), SMALL_FONT) for r in rows) + 14
    left, right, top = label_width, width - figure_width, 12.0
    bottom = top + ROW_HEIGHT * len(rows) + 6
    height = bottom + 46
    sx = Scale(axis.low, axis.high, left, right)
    body = [
        f'<line x1="{num(sx(tick))}" y1="{num(top)}" x2="{num(sx(tick))}" '
        f'y2="{num(bottom)}" stroke="#ddd"/>'
        for tick in axis.ticks
    ]
    for index, row in enumerate(rows):
        style = STYLES[row.style % len(STYLES)]
        middle = top + ROW_HEIGHT * index + ROW_HEIGHT / 2
        start = sx(max(axis.low, min(0.0, axis.high)))
        end = sx(row.estimate)
        opacity = "0.9" if index % 2 == 0 else "0.35"
        body.append(text(left - 8, middle + 5, row.label, anchor="end"))
        body.append(
            f'<rect x="{num(min(start, end))}" y="{num(middle - BAR_HEIGHT / 2)}" '
            f'width="{num(abs(end - start))}" height="{num(BAR_HEIGHT)}" fill="{style.colour}" '
            f'fill-opacity="{opacity}" stroke="{style.colour}" stroke-width="1"/>'
        )
        low, high = sx(row.low), sx(row.high)
        body.append(
            f'<path d="M{num(low)} {num(middle)}H{num(high)}M{num(low)} {num(middle - 8)}'
            f'V{num(middle + 8)}M{num(high)} {num(middle - 8)}V{num(middle + 8)}" '
            f'stroke="{INK}" stroke-width="1.8" fill="none"/>'
        )
        body.append(
            f'<circle cx="{num(end)}" cy="{num(middle)}" r="3.5" fill="{INK}">'
            f"<title>{esc(row.label)}: {esc(_figures(row, digits))}</title></circle>"
        )
        body.append(text(right + 10, middle + 4, _figures(row, digits), size=SMALL_FONT))
    body += x_axis_elements(axis, sx, bottom, axis_label, left, right)
    return svg_root(height, title, body, width)


def _figures(row: IntervalBar, digits: int) -> str:
    return f"{row.estimate:.{digits}f} [{row.low:.{digits}f}, {row.high:.{digits}f}]"


OUTCOME_COLOURS = ("#1f7a3a", "#b8b8b8", "#b3303f")  # dark, light, middle: apart in grey too


def outcome_bar(
    counts: Sequence[tuple[str, int]],
    *,
    title: str,
) -> str:
    """One bar split into (label, count) parts, e.g. wins, ties and losses, with a legend."""
    total = sum(count for _, count in counts)
    if total <= 0:
        raise ValueError(f"chart {title!r} has nothing to count")
    left, right, top, bar = 12.0, WIDTH - 12, 8.0, 34.0
    x = left
    body: list[str] = []
    for index, (label, count) in enumerate(counts):
        width = (right - left) * count / total
        colour = OUTCOME_COLOURS[index % len(OUTCOME_COLOURS)]
        share = f"{100 * count / total:.0f}%"
        body.append(
            f'<rect x="{num(x)}" y="{num(top)}" width="{num(width)}" height="{num(bar)}" '
            f'fill="{colour}" stroke="#fff" stroke-width="1.5">'
            f"<title>{esc(label)}: {count:,} ({share})</title></rect>"
        )
        if width >= text_width(share) + 8:
            ink = "#fff" if index != 1 else INK
            body.append(text(x + width / 2, top + bar / 2 + 5, share, anchor="middle", fill=ink))
        x += width
    y, lx = top + bar + 24, left
    for index, (label, count) in enumerate(counts):
        colour = OUTCOME_COLOURS[index % len(OUTCOME_COLOURS)]
        entry = f"{label}: {count:,} ({100 * count / total:.0f}%)"
        if lx + 22 + text_width(entry) > right:
            lx, y = left, y + 22
        body.append(
            f'<rect x="{num(lx)}" y="{num(y - 11)}" width="14" height="14" fill="{colour}" '
            f'stroke="{MUTED}" stroke-width="0.6"/>'
        )
        body.append(text(lx + 20, y + 1, entry))
        lx += 20 + text_width(entry) + 26
    return svg_root(y + 12, title, body)
