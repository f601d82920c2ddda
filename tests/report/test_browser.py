"""A generated report in a real browser: headless Chromium opens it from disk without errors.

Needs Chromium (Debian package ``chromium``); skipped without it, except under
CI, where a missing browser fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftd.report.page import render
from tests.report import chromium, samples

pytestmark = pytest.mark.anyio

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def browser() -> str:
    found = chromium.executable()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI needs the browser test to run")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.mark.timeout(180)
async def test_the_report_renders_in_chromium_without_errors(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(samples.full_report()), encoding="utf-8")

    result = await chromium.open_page(page.resolve().as_uri(), width=1280)

    assert result.problems == []
    assert result.requests == []  # nothing but the file itself was loaded
    facts = result.facts
    assert facts["title"] == "ftd report: support.jsonl"
    assert facts["sections"] == ["dataset", "training", "events", "evaluation"]
    assert len(facts["svgs"]) == 9
    assert all(w > 300 and h > 60 for w, h in facts["svgs"])  # every chart drawn, none collapsed
    assert facts["page_width"] <= facts["view_width"]  # no sideways scrolling at laptop width
    assert facts["smallest_text_px"] >= 11  # chart text readable at laptop width
    assert facts["images"] == 0
    assert result.screenshot.startswith(PNG_MAGIC)
    assert result.pdf.startswith(b"%PDF")  # it prints
    (tmp_path / "report.png").write_bytes(result.screenshot)
    (tmp_path / "report.pdf").write_bytes(result.pdf)


@pytest.mark.timeout(180)
async def test_hostile_data_runs_no_script(browser: str, tmp_path: Path) -> None:
    from tests.report.test_page import hostile_report

    page = tmp_path / "hostile.html"
    page.write_text(render(hostile_report()), encoding="utf-8")

    result = await chromium.open_page(page.resolve().as_uri(), width=900)

    assert result.problems == []  # an alert() or a failed <img> would show here
    assert result.requests == []
    assert result.facts["images"] == 0
    assert result.facts["page_width"] <= result.facts["view_width"]
