"""Small HTML pieces and number formats shared by the report's sections."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftd.report.svg import esc

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class Cell:
    """Table cell text (escaped when drawn), right-aligned when it holds a figure."""

    text: str
    numeric: bool = False
    html: bool = False  # already markup made by ftd itself, not data


def cell(text: str, *, numeric: bool = False) -> Cell:
    return Cell(text, numeric)


def markup(html: str) -> Cell:
    """A cell holding markup built here (from escaped parts), not raw data."""
    return Cell(html, html=True)


def _td(tag: str, value: Cell | str) -> str:
    c = value if isinstance(value, Cell) else Cell(value)
    css = ' class="num"' if c.numeric else ""
    return f"<{tag}{css}>{c.text if c.html else esc(c.text)}</{tag}>"


def table(head: Sequence[Cell | str], rows: Sequence[Sequence[Cell | str]]) -> str:
    header = "".join(_td("th", h) for h in head)
    body = "".join("<tr>" + "".join(_td("td", c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def number(value: int | float | None) -> str | None:
    if value is None:
        return None
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def stamp(at: float, *, zone: bool = True) -> str:
    """A Unix time as UTC, to the second: the same on every machine that opens the file."""
    return time.strftime("%Y-%m-%d %H:%M:%S" + (" UTC" if zone else ""), time.gmtime(at))


def facts_table(facts: Sequence[tuple[str, str | None]]) -> str:
    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{esc(value)}</td></tr>"
        for label, value in facts
        if value not in (None, "")
    )
    return f'<table class="facts">{rows}</table>'


def figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{esc(caption)}</figcaption>{svg}</figure>"
