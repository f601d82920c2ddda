"""Charts drawn by ftd itself as inline SVG: no library, no script, nothing fetched.

Every chart has a ``viewBox`` and ``width="100%"``, so it scales to the page
at laptop width and in print. Series differ by colour and also by dash and
marker shape, so they can still be told apart on a greyscale printout. Every
piece of text is escaped: dataset names and model answers are untrusted.
The root element carries no ``xmlns``: inline in HTML the parser places it in
the SVG namespace, and the page stays free of any URL.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftd.report.axes import Axis, Scale, integer_axis, nice_axis, tight

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

WIDTH = 720.0
FONT_SIZE = 13.0
SMALL_FONT = 11.0
LEGEND_FONT = 12.0
LEGEND_CHAR_WIDTH = 0.52  # legend labels are mostly lower case: narrower than the average
CHAR_WIDTH = 0.55  # of the font size: an average sans-serif glyph, for layout estimates
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#222"
GRID = "#ddd"
MUTED = "#666"
MARKED_POINTS = 40
MAX_BAR_SLOT = 110.0


@dataclass(frozen=True, slots=True)
class Style:
    """How one series looks: colour, dash pattern and marker shape (survives greyscale)."""

    colour: str
    dash: str  # SVG stroke-dasharray; "" for a solid line
    marker: str  # "circle", "square", "diamond", "triangle"


STYLES: tuple[Style, ...] = (
    Style("#1f5fa8", "", "circle"),
    Style("#d1495b", "7 4", "square"),
    Style("#2a9d4b", "", "diamond"),
    Style("#8a5a00", "2 3", "triangle"),
    Style("#6a3d9a", "10 3 2 3", "circle"),
)


@dataclass(frozen=True, slots=True)
class Series:
    """A named set of (x, y) points; drawn as a line, or as markers alone when ``line`` is off."""

    name: str
    points: tuple[tuple[float, float], ...]
    style: int = 0
    line: bool = True


def esc(text: object) -> str:
    """Text or an attribute value made safe for HTML and XML alike."""
    return html.escape(str(text), quote=True)


def num(value: float) -> str:
    """A coordinate, short: one decimal is finer than any screen or printer."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * CHAR_WIDTH


def text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: float = FONT_SIZE,
    fill: str = INK,
    extra: str = "",
) -> str:
    attrs = f'x="{num(x)}" y="{num(y)}" font-size="{num(size)}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if extra:
        attrs += f" {extra}"
    return f"<text {attrs}>{esc(content)}</text>"


def svg_root(height: float, label: str, body: Iterable[str], width: float = WIDTH) -> str:
    """The ``<svg>`` element: scalable, titled for screen readers, one font for all text."""
    return (
        f'<svg viewBox="0 0 {num(width)} {num(height)}" width="100%" role="img" '
        f'aria-label="{esc(label)}" font-family="{esc(FONT_FAMILY)}" class="chart">'
        f"<title>{esc(label)}</title>" + "".join(body) + "</svg>"
    )


def _points(*corners: tuple[float, float]) -> str:
    return " ".join(f"{num(x)},{num(y)}" for x, y in corners)


def marker(shape: str, x: float, y: float, colour: str, size: float = 4.0) -> str:
    """A point marker, white-filled so that overlapping markers stay visible."""
    paint = f'fill="#fff" stroke="{colour}" stroke-width="1.8"'
    if shape == "square":
        return (
            f'<rect x="{num(x - size)}" y="{num(y - size)}" width="{num(2 * size)}" '
            f'height="{num(2 * size)}" {paint}/>'
        )
    if shape == "diamond":
        s = size * 1.3
        pts = _points((x, y - s), (x + s, y), (x, y + s), (x - s, y))
        return f'<polygon points="{pts}" {paint}/>'
    if shape == "triangle":
        s = size * 1.25
        pts = (
            f"{num(x)},{num(y - s)} {num(x + s)},{num(y + s * 0.8)} {num(x - s)},{num(y + s * 0.8)}"
        )
        return f'<polygon points="{pts}" {paint}/>'
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(size)}" {paint}/>'


@dataclass(frozen=True, slots=True)
class LegendItem:
    label: str
    kind: str  # "series", "rule" (a vertical dotted line), "flag" (a checkpoint triangle)
    style: Style
    line: bool = True
    marker: bool = True


def legend(items: Sequence[LegendItem], top: float, left: float = 12.0) -> tuple[list[str], float]:
    """Legend entries laid out in rows across the chart; returns the elements and its height."""
    out: list[str] = []
    x, y, row_height, size, swatch = left, top + 10, 22.0, LEGEND_FONT, 24.0
    for item in items:
        width = swatch + 6 + len(item.label) * size * LEGEND_CHAR_WIDTH + 16
        if x + width > WIDTH - 8 and x > left:
            x, y = left, y + row_height
        colour, mid, centre = item.style.colour, y - 4, x + swatch / 2
        if item.kind == "rule":
            out.append(
                f'<line x1="{num(centre)}" y1="{num(mid - 8)}" x2="{num(centre)}" '
                f'y2="{num(mid + 8)}" stroke="{colour}" stroke-dasharray="2 3" stroke-width="1.5"/>'
            )
        elif item.kind == "flag":
            out.append(_flag(centre, mid - 5, colour))
        else:
            if item.line:
                dash = f' stroke-dasharray="{item.style.dash}"' if item.style.dash else ""
                out.append(
                    f'<line x1="{num(x)}" y1="{num(mid)}" x2="{num(x + swatch)}" y2="{num(mid)}" '
                    f'stroke="{colour}" stroke-width="2.2"{dash}/>'
                )
            if item.marker:
                out.append(marker(item.style.marker, centre, mid, colour))
        out.append(text(x + swatch + 6, y, item.label, size=size))
        x += width
    return out, y - top + 8


def _flag(x: float, y: float, colour: str) -> str:
    """A checkpoint: a small downward triangle whose tip marks the step."""
    return (
        f'<polygon points="{num(x - 5)},{num(y)} {num(x + 5)},{num(y)} {num(x)},{num(y + 8)}" '
        f'fill="{colour}"/>'
    )


def _decimate(
    points: Sequence[tuple[float, float]], limit: int = 1200
) -> list[tuple[float, float]]:
    """At most about ``limit`` points, keeping each bucket's lowest and highest, so spikes stay."""
    if len(points) <= limit:
        return list(points)
    buckets = limit // 2
    out: list[tuple[float, float]] = []
    for i in range(buckets):
        chunk = points[i * len(points) // buckets : (i + 1) * len(points) // buckets]
        if chunk:
            low = min(chunk, key=lambda p: p[1])
            high = max(chunk, key=lambda p: p[1])
            out.extend(sorted({low, high}))
    return out


def y_axis_elements(axis: Axis, scale: Scale, left: float, right: float, label: str) -> list[str]:
    out = []
    for tick in axis.ticks:
        y = scale(tick)
        out.append(
            f'<line x1="{num(left)}" y1="{num(y)}" x2="{num(right)}" y2="{num(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(text(left - 6, y + 4, axis.label(tick), anchor="end", size=SMALL_FONT))
    middle = (scale.start + scale.end) / 2
    out.append(
        text(16, middle, label, anchor="middle", extra=f'transform="rotate(-90 16 {num(middle)})"')
    )
    return out


def x_axis_elements(
    axis: Axis, scale: Scale, bottom: float, label: str, left: float, right: float
) -> list[str]:
    out = [
        f'<line x1="{num(left)}" y1="{num(bottom)}" x2="{num(right)}" y2="{num(bottom)}" '
        f'stroke="{INK}" stroke-width="1"/>'
    ]
    for tick in axis.ticks:
        x = scale(tick)
        out.append(
            f'<line x1="{num(x)}" y1="{num(bottom)}" x2="{num(x)}" y2="{num(bottom + 5)}" '
            f'stroke="{INK}"/>'
        )
        out.append(text(x, bottom + 19, axis.label(tick), anchor="middle", size=SMALL_FONT))
    out.append(text((left + right) / 2, bottom + 38, label, anchor="middle"))
    return out


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    sections: Sequence[tuple[float, str]] = (),
    section_name: str = "epoch boundary",
    flags: Sequence[tuple[float, str]] = (),
    flag_name: str = "checkpoint",
    y_include: Sequence[float] = (),
    height: float = 340.0,
) -> str:
    """Several series against a shared x axis (training steps, say).

    ``sections`` are (end x, label) pairs: a dotted rule at each end but the
    last, and the label centred over its stretch (epochs). ``flags`` are
    (x, tooltip) marks along the top edge (checkpoints). ``y_include`` widens
    the y axis to take in values such as 0.
    """
    drawn = [s for s in series if s.points]
    xs = [p[0] for s in drawn for p in s.points] + [x for x, _ in sections] + [x for x, _ in flags]
    ys = [p[1] for s in drawn for p in s.points] + list(y_include)
    if not drawn or not xs or not ys:
        raise ValueError(f"chart {title!r} has no points to draw")
    items = [
        LegendItem(s.name, "series", STYLES[s.style % len(STYLES)], s.line, _has_markers(s))
        for s in drawn
    ]
    if len(sections) > 1:
        items.append(LegendItem(section_name, "rule", Style(MUTED, "", "")))
    if flags:
        items.append(LegendItem(flag_name, "flag", Style(INK, "", "")))
    legend_parts, legend_height = legend(items, 4)
    top = 4 + legend_height + (24 if sections else 10)
    left, right, bottom = 70.0, WIDTH - 18, height - 50
    x_low, x_high = min(0.0, *xs), max(xs)
    x_axis = tight(integer_axis(x_low, x_high, max_ticks=9), x_low, x_high)
    y_axis = nice_axis(min(ys), max(ys), max_ticks=6)
    sx = Scale(x_axis.low, x_axis.high, left, right)
    sy = Scale(y_axis.low, y_axis.high, bottom, top)
    body = [*legend_parts, *y_axis_elements(y_axis, sy, left, right, y_label)]
    body += _sections(sections, sx, x_axis.low, top, bottom)
    for s in drawn:
        body += _series(s, sx, sy)
    for x, tip in flags:
        body.append(f"<g>{_flag(sx(x), top - 1, INK)}<title>{esc(tip)}</title></g>")
    body += x_axis_elements(x_axis, sx, bottom, x_label, left, right)
    return svg_root(height, title, body)


def _sections(
    sections: Sequence[tuple[float, str]], sx: Scale, start: float, top: float, bottom: float
) -> list[str]:
    out: list[str] = []
    previous = start
    widths = [sx(end) - sx(begin) for begin, end in _pairs(start, [e for e, _ in sections])]
    # Labels as wide as the narrowest stretch allows: "epoch 3", else "3", else every k-th.
    long_fits = all(
        text_width(label, SMALL_FONT) + 6 <= w
        for (_, label), w in zip(sections, widths, strict=True)
    )
    every = 1
    if not long_fits and widths:
        every = max(1, math.ceil((text_width("99", SMALL_FONT) + 6) / max(min(widths), 1.0)))
    for index, (end, label) in enumerate(sections):
        if index < len(sections) - 1:
            out.append(
                f'<line x1="{num(sx(end))}" y1="{num(top)}" x2="{num(sx(end))}" y2="{num(bottom)}" '
                f'stroke="{MUTED}" stroke-width="1.2" stroke-dasharray="2 3"/>'
            )
        if index % every == 0:
            shown = label if long_fits else label.split()[-1]
            middle = (sx(previous) + sx(end)) / 2
            out.append(text(middle, top - 8, shown, anchor="middle", size=SMALL_FONT, fill=MUTED))
        previous = end
    return out


def _pairs(start: float, ends: Sequence[float]) -> list[tuple[float, float]]:
    out, previous = [], start
    for end in ends:
        out.append((previous, end))
        previous = end
    return out


def _has_markers(series: Series) -> bool:
    """Markers on every point when there are few enough to tell apart, or no line at all."""
    return not series.line or len(series.points) <= MARKED_POINTS


def _series(series: Series, sx: Scale, sy: Scale) -> list[str]:
    style = STYLES[series.style % len(STYLES)]
    points = sorted(series.points)
    out: list[str] = []
    if series.line and len(points) > 1:
        coords = " ".join(f"{num(sx(x))},{num(sy(y))}" for x, y in _decimate(points))
        dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{style.colour}" '
            f'stroke-width="2" stroke-linejoin="round"{dash}/>'
        )
    if _has_markers(series):
        out += [marker(style.marker, sx(x), sy(y), style.colour) for x, y in points]
    return out


def histogram(
    bins: Sequence[tuple[str, int]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    tips: Sequence[str] = (),
    height: float = 260.0,
) -> str:
    """Counts per bin as vertical bars, each labelled with its count; ``tips`` are hover texts."""
    if not bins:
        raise ValueError(f"histogram {title!r} has no bins")
    counts = [count for _, count in bins]
    left, right, top = 70.0, WIDTH - 18, 24.0
    slot = min((right - left) / len(bins), MAX_BAR_SLOT)
    first = left + ((right - left) - slot * len(bins)) / 2
    widest = max(text_width(label, SMALL_FONT) for label, _ in bins)
    tilted = widest + 4 > slot
    bottom = height - (50 + (widest * 0.6 if tilted else 0))
    y_axis = integer_axis(0, max(max(counts), 1), max_ticks=6)
    sy = Scale(y_axis.low, y_axis.high, bottom, top)
    body = y_axis_elements(y_axis, sy, left, right, y_label)
    colour = STYLES[0].colour
    for index, (label, count) in enumerate(bins):
        x = first + index * slot
        bar_top = sy(count)
        tip = tips[index] if index < len(tips) else f"{label}: {count:,}"
        body.append(
            f'<rect x="{num(x + slot * 0.1)}" y="{num(bar_top)}" width="{num(slot * 0.8)}" '
            f'height="{num(bottom - bar_top)}" fill="{colour}" fill-opacity="0.85" '
            f'stroke="{INK}" stroke-width="0.6"><title>{esc(tip)}</title></rect>'
        )
        if count:
            body.append(
                text(x + slot / 2, bar_top - 4, f"{count:,}", anchor="middle", size=SMALL_FONT)
            )
        cx, ly = x + slot / 2, bottom + 16
        if tilted:
            body.append(
                text(
                    cx + 4,
                    ly,
                    label,
                    anchor="end",
                    size=SMALL_FONT,
                    extra=f'transform="rotate(-40 {num(cx + 4)} {num(ly)})"',
                )
            )
        else:
            body.append(text(cx, ly, label, anchor="middle", size=SMALL_FONT))
    body.append(
        f'<line x1="{num(left)}" y1="{num(bottom)}" x2="{num(right)}" y2="{num(bottom)}" '
        f'stroke="{INK}"/>'
    )
    body.append(text((left + right) / 2, height - 10, x_label, anchor="middle"))
    return svg_root(height, title, body)
