"""The charts: well-formed, legible (legend, axes, units), greyscale-safe, escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from ftd.report.bars import IntervalBar, interval_chart, outcome_bar
from ftd.report.svg import STYLES, Series, histogram, line_chart
from tests.report.samples import HOSTILE


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - ftd's own output, parsed to check its shape
    assert root.tag == "svg"
    assert root.get("width") == "100%"
    assert root.get("viewBox", "").startswith("0 0 ")
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("text")]


def loss_chart(**extra: object) -> str:
    train = Series("training loss", tuple((float(s), 2.0 / s) for s in range(1, 61)), 0)
    valid = Series("validation loss", tuple((float(s), 2.2 / s) for s in range(6, 61, 6)), 1)
    full = Series("full validation loss", ((20.0, 0.2), (40.0, 0.1), (60.0, 0.05)), 2, line=False)
    return line_chart(
        [train, valid, full],
        title="Loss",
        x_label="training step",
        y_label="loss",
        sections=[(20.0, "epoch 1"), (40.0, "epoch 2"), (60.0, "epoch 3")],
        flags=[(40.0, "ckpt-step-40"), (60.0, "ckpt-step-60")],
        y_include=(0.0,),
        **extra,  # type: ignore[arg-type]
    )


def test_line_chart_has_legend_axes_markers_and_rules() -> None:
    root = parse(loss_chart())
    words = texts(root)
    for label in ("training loss", "validation loss", "full validation loss", "epoch boundary"):
        assert label in words
    assert "checkpoint" in words
    assert {"epoch 1", "epoch 2", "epoch 3"} <= set(words)
    assert "training step" in words
    assert "loss" in words
    assert "0" in words  # y_include pulls the axis down to zero
    assert "60" in words  # the x axis reaches the last step
    lines = list(root.iter("polyline"))
    assert len(lines) == 2  # training and validation; full validation is markers only
    assert lines[0].get("stroke") != lines[1].get("stroke")
    assert lines[0].get("stroke-dasharray") != lines[1].get("stroke-dasharray")
    rules = [e for e in root.iter("line") if e.get("stroke-dasharray") == "2 3"]
    assert len(rules) == 2 + 1  # boundaries after epochs 1 and 2, and the legend's sample
    flags = [g for g in root.iter("g") if g.find("title") is not None]
    assert ["".join(g.find("title").itertext()) for g in flags] == [  # type: ignore[union-attr]
        "ckpt-step-40",
        "ckpt-step-60",
    ]
    diamonds = [p for p in root.iter("polygon") if p.get("stroke") == STYLES[2].colour]
    assert len(diamonds) == 3 + 1  # three full-validation points and the legend's


def test_points_land_inside_the_plot() -> None:
    root = parse(loss_chart())
    height = float(root.get("viewBox", "").split()[3])
    for polyline in root.iter("polyline"):
        for pair in (polyline.get("points") or "").split():
            x, y = (float(v) for v in pair.split(","))
            assert 60 <= x <= 720
            assert 0 <= y <= height - 40


def test_series_styles_differ_in_more_than_colour() -> None:
    assert len({(s.dash, s.marker) for s in STYLES}) == len(STYLES)
    assert len({s.colour for s in STYLES}) == len(STYLES)


def test_many_points_are_thinned_but_keep_extremes() -> None:
    points = (*((float(i), 1.0) for i in range(20_000)), (20_000.0, 9.0))
    svg = line_chart([Series("loss", points)], title="t", x_label="step", y_label="loss")
    polyline = parse(svg).find("polyline")
    assert polyline is not None
    coords = (polyline.get("points") or "").split()
    assert len(coords) <= 1300
    ys = [float(c.split(",")[1]) for c in coords]
    assert max(ys) - min(ys) > 100  # the single spike survived


def test_text_is_escaped_everywhere() -> None:
    svg = line_chart(
        [Series(HOSTILE, ((1.0, 1.0), (2.0, 2.0)))],
        title=HOSTILE,
        x_label=HOSTILE,
        y_label=HOSTILE,
        flags=[(1.0, HOSTILE)],
    )
    assert "<script" not in svg
    assert "<img" not in svg
    root = parse(svg)
    assert HOSTILE in texts(root)
    bars = histogram([(HOSTILE, 3)], title=HOSTILE, x_label=HOSTILE, y_label="n")
    assert "<script" not in bars
    parse(bars)


def test_histogram_bars_are_proportional_and_counted() -> None:
    root = parse(
        histogram(
            [("1", 0), ("2-3", 10), ("4-7", 40), ("8-15", 20)],
            title="tokens",
            x_label="tokens per example",
            y_label="examples",
        )
    )
    rects = list(root.iter("rect"))
    heights = [float(r.get("height", "0")) for r in rects]
    assert heights[0] == 0
    assert heights[2] == pytest.approx(4 * heights[1], rel=0.02)
    assert heights[2] == pytest.approx(2 * heights[3], rel=0.02)
    words = texts(root)
    assert {"10", "40", "20", "tokens per example", "examples", "4-7"} <= set(words)


def test_crowded_histogram_labels_are_tilted() -> None:
    bins = [(f"{1 << i:,}-{(1 << (i + 1)) - 1:,}", i) for i in range(18)]
    root = parse(histogram(bins, title="t", x_label="tokens", y_label="n"))
    tilted = [t for t in root.iter("text") if "rotate(-40" in (t.get("transform") or "")]
    assert len(tilted) == 18


def test_interval_chart_draws_whiskers_at_the_bounds() -> None:
    rows = [IntervalBar("fine-tuned", 0.8, 0.7, 0.9, 0), IntervalBar("base", 0.4, 0.3, 0.5, 1)]
    root = parse(interval_chart(rows, title="pass", axis_label="pass rate", include=(0.0, 1.0)))
    words = texts(root)
    assert {"fine-tuned", "base", "pass rate", "0.80 [0.70, 0.90]", "0.0", "1.0"} <= set(words)
    whiskers = [p.get("d", "") for p in root.iter("path")]
    assert len(whiskers) == 2
    # "M{low} {y}H{high}...": the fine-tuned whisker spans 0.7..0.9 of the 0..1 axis.
    found = re.match(r"M([\d.]+) [\d.]+H([\d.]+)", whiskers[0])
    assert found is not None
    low, high = float(found[1]), float(found[2])
    bar = next(root.iter("rect"))
    start, width = float(bar.get("x", "0")), float(bar.get("width", "0"))
    unit = width / 0.8  # the bar runs from 0 to the estimate
    assert low - start == pytest.approx(0.7 * unit, abs=0.2)
    assert high - start == pytest.approx(0.9 * unit, abs=0.2)


def test_outcome_bar_splits_by_count() -> None:
    root = parse(outcome_bar([("wins", 6), ("ties", 3), ("losses", 1)], title="outcome"))
    widths = [float(r.get("width", "0")) for r in root.iter("rect")][:3]
    assert widths[0] == pytest.approx(6 * widths[2], rel=0.01)
    assert widths[1] == pytest.approx(3 * widths[2], rel=0.01)
    words = texts(root)
    assert "wins: 6 (60%)" in words
    assert "60%" in words


def test_empty_charts_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'Loss' has no points"):
        line_chart([Series("a", ())], title="Loss", x_label="x", y_label="y")
    with pytest.raises(ValueError, match="no bins"):
        histogram([], title="h", x_label="x", y_label="y")
    with pytest.raises(ValueError, match="no rows"):
        interval_chart([], title="i", axis_label="x")
    with pytest.raises(ValueError, match="nothing to count"):
        outcome_bar([("wins", 0)], title="o")
