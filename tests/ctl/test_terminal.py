"""On a terminal: ``ftd show`` draws the loss as a sparkline and ``ftd watch`` redraws in place."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import write_dataset

BLOCKS = set("▁▂▃▄▅▆▇█")


def on_terminal(args: list[str], seconds: float) -> str:
    """Run ``ftd ARGS`` with a pseudo-terminal as its output; what it wrote, as text."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ftd", *args], stdout=child, stderr=child, stdin=subprocess.DEVNULL
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([main], [], [], 0.1)
        if ready:
            try:
                chunks.append(os.read(main, 65536))
            except OSError:
                break
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    process.wait(10)
    while select.select([main], [], [], 0.1)[0]:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


def test_sparkline_and_redraws(start_emulator: StartEmulator, make_daemon: MakeDaemon) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "curve.jsonl")
    job = daemon.wait_job("curve.jsonl", "succeeded")
    socket = str(daemon.socket)
    shown = on_terminal(["show", job["job_id"], "--socket", socket], 20)
    assert "train loss" in shown
    curve = next(line for line in shown.splitlines() if BLOCKS & set(line))
    assert len([c for c in curve if c in BLOCKS]) >= 20
    piped = daemon.ftd("show", job["job_id"]).stdout
    assert not BLOCKS & set(piped)  # no drawing when the output is a file or a pipe
    watched = on_terminal(["watch", "--interval", "0.2", "--socket", socket], 2.0)
    assert watched.count("\x1b[H\x1b[2J") >= 3  # the view is redrawn in place
    assert "no job running" in watched
