"""A report of a real job, opened in headless Chromium: screenshot, PDF, size and timings.

Trains the demo's bundled dataset at an in-process emulator, tracks it into a
fresh store, gathers the report's views (with an example evaluation summary,
since this measures the drawing, not the evaluation), renders the page, and
opens it in Chromium at a laptop's width. Writes ``bench/out/report.html``,
``report.png`` and ``report.pdf`` and prints what it measured.

    python bench/report_screenshot.py [--width 1280]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the browser driver and the example data live with the tests

from ftd import logs  # noqa: E402
from ftd.report.gather import report_view  # noqa: E402
from ftd.report.page import render  # noqa: E402
from ftd.store import Store  # noqa: E402
from tests.emulator.helpers import FakeClock  # noqa: E402
from tests.report import chromium, samples  # noqa: E402
from tests.report.realjob import run_job  # noqa: E402

OUT = ROOT / "bench" / "out"


async def main(width: int) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ftd-report-") as scratch:
        store = await Store.open(Path(scratch) / "ftd.db")
        try:
            dataset_id, job_id = await run_job(store, FakeClock(), Path(scratch))
            started = time.perf_counter()
            view = await report_view(store, dataset_id=dataset_id, evaluation=samples.evaluation())
            gathered = time.perf_counter() - started
        finally:
            await store.close()
    started = time.perf_counter()
    page = render(view)
    rendered = time.perf_counter() - started
    html = OUT / "report.html"
    html.write_text(page, encoding="utf-8")
    if chromium.executable() is None:
        print("chromium is not installed: wrote the HTML only", file=sys.stderr)
        return 1
    started = time.perf_counter()
    result = await chromium.open_page(html.resolve().as_uri(), width=width)
    opened = time.perf_counter() - started
    (OUT / "report.png").write_bytes(result.screenshot)
    (OUT / "report.pdf").write_bytes(result.pdf)
    steps = len(view.job.metrics) if view.job else 0
    print(f"job {job_id}: {steps} steps, {len(view.job.events) if view.job else 0} events")
    print(f"gather {gathered * 1000:.1f} ms, render {rendered * 1000:.1f} ms")
    print(f"page {len(page.encode()) / 1024:.1f} KiB, {page.count('<svg')} charts")
    print(f"chromium: open, screenshot and print {opened:.2f} s at width {width}")
    print(f"problems {len(result.problems)}, outside requests {len(result.requests)}")
    print(f"smallest chart text {result.facts['smallest_text_px']} px")
    print(f"wrote {html}, {OUT / 'report.png'}, {OUT / 'report.pdf'}")
    for problem in result.problems + result.requests:
        print(f"  {problem}", file=sys.stderr)
    return 1 if result.problems or result.requests else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    logs.configure(level="warning")
    sys.exit(asyncio.run(main(parser.parse_args().width)))
