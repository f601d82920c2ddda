"""Watching the daemon meet the hostile corpus: the entries that move, and what became of each.

Shared by ``tests/reliability/test_hostile_inputs.py`` and ``bench/hostile.py``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.daemon.harness import Daemon
from tests.reliability.corpus import IGNORED, LEFT, Entry, good_bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # rejected, ignored, left, or what else was found (a state, "gone")
    reason: str
    seconds: float | None  # from the corpus being built to the outcome, when known


# ----------------------------------------------------------------------------- moving parts


class Grower:
    """Appends a line to a file every ``interval`` seconds until stopped."""

    def __init__(self, path: Path, interval: float = 0.1) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Grower:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self._interval):
            n += 1
            with self._path.open("ab") as handle:
                handle.write(good_bytes(1, f"grown {n} "))


def open_by(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for fd in names:
        try:
            if os.readlink(fds / fd) == str(path):
                return True
        except OSError:
            continue
    return False


def remove_when_opened(pid: int, path: Path, timeout: float = 60.0) -> threading.Thread:
    """A thread that removes ``path`` as soon as ``pid`` opens it (to read it)."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if open_by(pid, path):
                path.unlink()
                return
            time.sleep(0.001)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# ----------------------------------------------------------------------------- reading outcomes


def _timestamp(event: dict[str, Any]) -> float | None:
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        return None
    return datetime.fromisoformat(stamp).timestamp()


def _report_reason(report: Any) -> str:
    if not isinstance(report, dict):
        return ""
    kinds = [str(issue.get("kind")) for issue in report.get("errors", [])]
    first = report.get("errors", [{}])[0].get("samples", [{}])[0].get("message", "")
    return f"{', '.join(kinds)}: {first}"


def outcomes(daemon: Daemon, corpus: list[Entry], started: float) -> dict[str, Outcome]:
    """What became of each entry, read from the daemon's database, log and drop folder."""
    rows = {r["name"]: r for r in daemon.query("SELECT * FROM datasets ORDER BY id")}
    state_times: dict[int, float] = {}
    for event in daemon.events("dataset_state"):
        at = _timestamp(event)
        if at is not None and isinstance(event.get("dataset_id"), int):
            state_times[event["dataset_id"]] = at
    ignored: dict[str, tuple[str, float | None]] = {}
    for name in ("incoming_ignored", "incoming_vanished"):
        for event in daemon.events(name):
            file = event.get("file")
            if isinstance(file, str) and file not in ignored:
                ignored[file] = (str(event.get("reason", name)), _timestamp(event))
    found: dict[str, Outcome] = {}
    for entry in corpus:
        path = daemon.incoming / entry.name
        row = rows.get(entry.name)
        if row is not None:
            at = state_times.get(row["id"])
            seconds = None if at is None else round(at - started, 2)
            report = json.loads(row["report"]) if row["report"] else None
            reason = _report_reason(report) or str(row["error"] or "")
            found[entry.name] = Outcome(row["state"], reason, seconds)
        elif entry.name in ignored:
            reason, at = ignored[entry.name]
            seconds = None if at is None else round(at - started, 2)
            found[entry.name] = Outcome(IGNORED, reason, seconds)
        elif os.path.lexists(path):
            reason = "sidecar" if entry.name.endswith(".toml") else "not complete"
            found[entry.name] = Outcome(LEFT, reason, None)
        else:
            found[entry.name] = Outcome("gone", "no record of it", None)
    return found


UNSETTLED = frozenset({"detected", "validating", "gone"})


def wait_settled(
    daemon: Daemon, corpus: list[Entry], started: float, *, timeout: float = 90.0
) -> dict[str, Outcome]:
    """Outcomes once no entry is still on its way (or at ``timeout``, as they are then)."""
    deadline = time.monotonic() + timeout
    while True:
        found = outcomes(daemon, corpus, started)
        waiting = [
            e.name
            for e in corpus
            if found[e.name].kind in UNSETTLED or (e.expect != LEFT and found[e.name].kind == LEFT)
        ]
        if not waiting or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
