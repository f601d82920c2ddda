"""What the commands print: tables, durations, and names that must not drive the terminal."""

from __future__ import annotations

from ftd.ctl import render


def test_control_characters_are_shown_not_obeyed() -> None:
    hostile = "ansi-\x1b[31mred\x9b2J\x07name\r\n"
    shown = render.clean(hostile)
    assert shown == "ansi-\\x1b[31mred\\x9b2J\\x07name\\x0d\\x0a"
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) < 0xA0 for c in shown)
    assert render.clean("line one\n\tline two\x1b", lines=True) == "line one\n\tline two\\x1b"
    assert render.clean("日本語 émoji 🚀") == "日本語 émoji 🚀"


def test_tables_align_and_clean_their_cells() -> None:
    text = render.table([("1", "a\x1b[2Jb", None), ("22", "c", 3)], ("ID", "NAME", "N"))
    assert text.splitlines() == [
        "ID  NAME       N",
        "1   a\\x1b[2Jb  -",
        "22  c          3",
    ]


def test_durations_and_money_read_naturally() -> None:
    assert render.duration(42) == "42s"
    assert render.duration(3 * 60 + 5) == "3m05s"
    assert render.duration(2 * 3600 + 60) == "2h01m"
    assert render.duration(3 * 86400 + 3600) == "3d01h"
    assert render.ago(100.0, now=160.0) == "1m00s ago"
    assert render.ago(200.0, now=160.0) == "in 40s"
    assert (render.money(1234.5), render.money(0.004), render.money(None)) == (
        "$1,234.50",
        "$0.0040",
        "-",
    )
    assert render.progress({"step": 50, "total_steps": 200}) == "50/200 (25%)"
    assert render.bar(5, 10, 10) == "[#####.....]"


def test_an_eta_is_never_in_the_past_and_never_for_a_finished_job() -> None:
    now = 1_000_000.0
    assert render.eta(now + 40, finished=False, now=now) == "in 40s"
    assert render.eta(now - 8, finished=False, now=now) == "overdue 8s"
    assert render.eta(now + 0.4, finished=False, now=now) == "due"
    assert render.eta(now - 8, finished=True, now=now) == "-"
    assert render.eta(0, finished=False, now=now) == "-"  # no estimate, not 1970
    assert render.eta(None, finished=False, now=now) == "-"
