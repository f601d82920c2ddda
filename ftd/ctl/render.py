"""Turning the daemon's answers into text people read: tables, times, money, sizes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

NOTHING = "-"
# Control characters (C0, DEL, C1) in names and messages would reach the terminal as
# escapes: a dataset named with "\x1b[2J" must not clear anyone's screen.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL_BUT_LINES = {c: text for c, text in _CONTROL.items() if chr(c) not in "\n\t"}


def clean(text: object, *, lines: bool = False) -> str:
    """Text safe to print on a terminal: control characters shown as \\xNN.

    ``lines`` keeps newlines and tabs, for free text such as a model's answer.
    """
    return str(text).translate(_CONTROL_BUT_LINES if lines else _CONTROL)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Columns as wide as their widest cell, left-aligned, two spaces apart."""
    cells = [[str(h) for h in headers]]
    cells += [[NOTHING if c is None else clean(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


VERDICT_WORDS = {
    "no_detectable_difference": "no detectable difference",
    "too_few_items": "too few items to tell",
}


def verdict(value: object) -> str | None:
    """A verdict as words: "too few items to tell" rather than its key."""
    if not value:
        return None
    return VERDICT_WORDS.get(str(value), str(value).replace("_", " "))


def interval(
    figures: dict[str, Any] | None, *, digits: int = 3, signed: bool = False
) -> str | None:
    """ "0.38 [0.15, 0.69]"; a degenerate one (every item the same) says so instead of [x, x]."""
    if not figures:
        return None
    form = f"{'+' if signed else ''}.{digits}f"
    estimate = format(figures["estimate"], form)
    if figures.get("degenerate") or figures["low"] == figures["high"]:
        return f"{estimate} (all {figures.get('n', '?')} items the same: no interval)"
    return f"{estimate} [{format(figures['low'], form)}, {format(figures['high'], form)}]"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NOTHING
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def ago(when: float | None, now: float | None = None) -> str:
    if when is None:
        return NOTHING
    delta = (now if now is not None else time.time()) - when
    return f"in {duration(delta)}" if delta < 0 else f"{duration(delta)} ago"


def eta(when: float | None, *, finished: bool, now: float | None = None) -> str:
    """When a job should end: nothing once it has, and "overdue" past its estimate.

    A provider's estimate can be missing, zero or long past; none of these is
    a time to show as if it were the future.
    """
    if finished or not when or when <= 0:
        return NOTHING
    delta = when - (now if now is not None else time.time())
    if delta >= 1:
        return f"in {duration(delta)}"
    if delta > -1:
        return "due"
    return f"overdue {duration(-delta)}"


def stamp(when: float | None) -> str:
    if when is None:
        return NOTHING
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def money(value: float | None) -> str:
    if value is None:
        return NOTHING
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return NOTHING
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def counts(tally: dict[str, int]) -> str:
    if not tally:
        return "none"
    return " · ".join(f"{name} {n}" for name, n in sorted(tally.items(), key=lambda kv: -kv[1]))


def progress(figures: dict[str, Any]) -> str:
    step, total = figures.get("step"), figures.get("total_steps")
    if step is None:
        return NOTHING
    if total:
        return f"{step}/{total} ({100 * step / total:.0f}%)"
    return str(step)


def bar(done: float, total: float, width: int = 20) -> str:
    share = 0.0 if total <= 0 else min(1.0, max(0.0, done / total))
    full = round(share * width)
    return "[" + "#" * full + "." * (width - full) + "]"
