"""The API key of a full run appears nowhere ftd writes or answers.

A daemon with a distinctive key (from a key file, then a second one through
``ftd reload``) takes a dataset to a succeeded job and its evaluation, is
asked about them through every reading command, and writes an HTML report.
Then the log, every row of every table, every byte of every file under the
state directory and the drop folder, the report and every socket answer are
searched for both keys and for their middle parts (which a partial redaction
would leave).
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon, write_dataset
from tests.daemon.test_evaluation import wait_evaluation


def _key() -> str:
    return "sk-proj-" + secrets.token_urlsafe(36).replace("-", "x").replace("_", "y")


def _needles(*keys: str) -> list[bytes]:
    """Each key, and its middle, long enough to be unmistakable, short enough to survive a mask."""
    found: list[bytes] = []
    for key in keys:
        found += [key.encode(), key[12:-12].encode()]
    return found


def _table_rows(daemon: Daemon) -> list[tuple[str, str]]:
    """(table, row as text) for every row of every table."""
    tables = [r[0] for r in daemon.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows: list[tuple[str, str]] = []
    with sqlite3.connect(f"file:{daemon.state_dir / 'ftd.db'}?mode=ro", uri=True) as db:
        for table in tables:
            # Table names come from the schema itself.
            found = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            rows.extend((table, repr(row)) for row in found)
    return rows


def test_the_api_key_is_in_no_log_row_file_report_or_answer(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    first, second = _key(), _key()
    key_file = tmp_path / "secrets" / "api-key"
    key_file.parent.mkdir()
    key_file.write_text(first + "\n")
    emulator = start_emulator()
    daemon = make_daemon(
        emulator,
        # The harness sets OPENAI_API_KEY; this run reads its key from the file alone.
        provider={"api_key_env": "SECRETS_SUITE_UNSET_KEY", "api_key_file": str(key_file)},
        evaluation={"judge_repeat_sample": 0, "resamples": 200},
    )
    daemon.start()
    assert daemon.wait_for("daemon_started")["api_key_from"].startswith("file ")
    write_dataset(daemon.incoming / "secret.jsonl", seed="secret ")
    job = daemon.wait_job("secret.jsonl", "succeeded", timeout=90)
    evaluation = wait_evaluation(daemon, "secret.jsonl")
    assert evaluation["status"] == "succeeded", evaluation["error"]

    # A new key, read again on reload (and compared with the old one).
    key_file.write_text(second + "\n")
    reload = daemon.ftd("reload", "--json")
    assert reload.returncode == 0, reload.stderr
    answers = [reload.stdout, reload.stderr]
    daemon.wait_for("config_reloaded", timeout=10)
    report = tmp_path / "report.html"
    reading = [
        ("status",),
        ("status", "--json"),
        ("datasets", "--json"),
        ("jobs", "--json"),
        ("evaluations", "--json"),
        ("show", "secret.jsonl"),
        ("show", "secret.jsonl", "--json"),
        ("show", job["job_id"], "--json"),
        ("show", f"eval-{evaluation['id']}", "--json"),
        ("events", job["job_id"], "-n", "1000", "--json"),
        ("report", "secret.jsonl", "-o", str(report)),
    ]
    for args in reading:
        done = daemon.ftd(*args)
        assert done.returncode == 0, (args, done.stderr)
        answers += [done.stdout, done.stderr]
    assert daemon.stop() == 0

    needles = _needles(first, second)
    places: dict[str, bytes] = {"log": daemon.log_path.read_bytes(), "report": report.read_bytes()}
    for n, text in enumerate(answers):
        places[f"answer {n}"] = text.encode()
    for table, row in _table_rows(daemon):
        places.setdefault(f"table {table}", b"")
        places[f"table {table}"] += row.encode() + b"\n"
    for root in (daemon.state_dir, daemon.drop):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                places[str(path)] = path.read_bytes()
    leaks = [
        (where, needle) for where, data in places.items() for needle in needles if needle in data
    ]
    assert leaks == []
    # The search looked where it should: the run left all of these behind.
    assert places["report"].startswith(b"<!DOCTYPE html>")
    assert {"table job_events", "table evaluation_items", "table datasets"} <= places.keys()
    assert any(job["job_id"] in answer for answer in answers)
