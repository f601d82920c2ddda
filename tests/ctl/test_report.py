"""Reports: written by the daemon when a job's evaluation ends, and by ``ftd report`` on request."""

from __future__ import annotations

import time
from pathlib import Path

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import write_dataset


def test_the_daemon_writes_the_report_and_ftd_report_draws_any(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "sums.jsonl")
    job = daemon.wait_job("sums.jsonl", "succeeded")
    written = daemon.wait_for("report_written", timeout=60)
    beside = daemon.drop / "processed" / "sums.report.html"
    assert written["path"] == str(beside)
    page = beside.read_text()
    assert "ftd report: sums.jsonl" in page
    assert job["job_id"] in page
    assert "Verdict" in page
    shown = daemon.ftd("show", "sums.jsonl").stdout
    assert f"report             {beside}" in shown

    out = tmp_path / "mine.html"
    made = daemon.ftd("report", job["job_id"], "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(out)
    assert "<svg" in out.read_text()
    evaluation = f"eval-{written['evaluation_id']}"
    by_eval = daemon.ftd("report", evaluation, "-o", str(tmp_path / "e.html"))
    assert by_eval.returncode == 0, by_eval.stderr
    assert "Verdict" in (tmp_path / "e.html").read_text()
    missing = daemon.ftd("report", "nope")
    assert missing.returncode == 1
    assert "no dataset, job or evaluation 'nope'" in missing.stderr

    # A report lost to a crash is written at the next start.
    beside.unlink()
    daemon.query("SELECT 1")  # the database is readable beside the daemon
    daemon.kill()
    import sqlite3

    with sqlite3.connect(daemon.state_dir / "ftd.db") as db:
        db.execute("UPDATE evaluations SET report_path = NULL")
    daemon.start()
    deadline = time.monotonic() + 30
    while not beside.exists():
        assert time.monotonic() < deadline, "the missing report was not written again"
        time.sleep(0.1)
