"""A loss curve in one line of Unicode blocks, for ``ftd show`` on a terminal.

Standard library only: the thin CLI client imports this module and must stay
quick to start.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = " "


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def resample(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most ``width`` values: each the mean of the known values in its share of the input.

    A share with no known value stays unknown, so a gap in the data stays a
    gap. Fewer values than ``width`` are kept as they are: stretching them
    would draw steps that are not in the data.
    """
    if width < 1:
        raise ValueError(f"sparkline width must be at least 1, got {width}")
    clean = [_finite(v) for v in values]
    if len(clean) <= width:
        return clean
    out: list[float | None] = []
    n = len(clean)
    for i in range(width):
        share = [v for v in clean[i * n // width : (i + 1) * n // width] if v is not None]
        out.append(sum(share) / len(share) if share else None)
    return out


def sparkline(values: Sequence[float | None], width: int = 40) -> str:
    """The values as block characters, lowest ``▁`` to highest ``█``; unknowns are blanks.

    The scale runs from the smallest to the largest value shown; a flat series
    is drawn at mid height so that it does not read as zero.
    """
    points = resample(values, width)
    known = [v for v in points if v is not None]
    if not known:
        return GAP * len(points)
    low, high = min(known), max(known)
    top = len(BLOCKS) - 1
    chars = []
    for v in points:
        if v is None:
            chars.append(GAP)
        elif high == low:
            chars.append(BLOCKS[top // 2])
        else:
            chars.append(BLOCKS[round((v - low) / (high - low) * top)])
    return "".join(chars)
