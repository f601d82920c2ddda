"""``ftd demo`` as a newcomer runs it: to a verdict and a report, leaving nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The demo's own deadlines (180 s to its verdict, 20 s for each process to stop) fit
# in the run's; pytest's own is past both, so a stuck demo shows its output and logs.
DEMO_SECONDS = 240
pytestmark = [pytest.mark.slow, pytest.mark.timeout(DEMO_SECONDS + 60)]


def _running_in(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in command:
            found.append(command)
    return found


def _demo(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``ftd demo`` run to its end; if it outlives its deadline, what it and its logs said.

    A demo past its deadline is stopped as a user would (SIGTERM, and it stops the
    daemon and the emulator it started), not killed, which would leave them running.
    """
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    command = [sys.executable, "-m", "ftd", "demo", *extra, "--dir", str(folder)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as demo:
        try:
            out, err = demo.communicate(timeout=DEMO_SECONDS)
        except subprocess.TimeoutExpired:
            demo.terminate()
            out, err = demo.communicate(timeout=45)
            logs = "".join(
                f"\n--- {log.name}, its last 60 lines:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-60:])
                for log in (folder / "daemon.log", folder / "emulator.log")
                if log.exists()
            )
            pytest.fail(f"ftd demo did not end in {DEMO_SECONDS} s:\n{out}{err}{logs}")
    return subprocess.CompletedProcess(command, demo.returncode, out, err)


def test_the_demo_runs_to_a_verdict_and_leaves_nothing_running(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    done = _demo(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "support-extra.jsonl: rejected: " in out
    assert "line 4: not JSON" in out
    assert "support.jsonl: submitted (209 examples" in out
    assert "succeeded: ft:gpt-4.1-mini-2025-04-14:" in out
    assert "Verdict: better" in out
    # 13 test items, 5 only the fine-tuned model passes: McNemar's p = 0.0625, no verdict
    normalized = next(line for line in out.splitlines() if line.strip().startswith("normalized"))
    assert "better" not in normalized
    assert "too few items to tell" in normalized
    report = folder / "drop" / "processed" / "support.report.html"
    assert f"Report: {report}" in out
    page = report.read_text()
    assert page.count("<svg") >= 5
    assert "<strong>Verdict: fine-tuned model is better</strong>" in page
    assert "http://" not in page
    # the items that differ most name their line in the file the user dropped
    assert "<h4>support.jsonl, line " in page
    assert "test split line" not in page
    assert f"ftd status -c {folder / 'config.toml'}" in out
    assert (folder / "drop" / "rejected" / "support-extra.errors.json").exists()
    assert _running_in(folder) == []
    again = subprocess.run(
        [sys.executable, "-m", "ftd", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2
    assert "holds an earlier demo" in again.stderr


def test_the_azure_demo_deploys_evaluates_and_removes_its_deployments(tmp_path: Path) -> None:
    folder = tmp_path / "azure-demo"
    done = _demo(folder, "--flavor", "azure")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "the emulator stands in for Azure OpenAI" in out
    assert ".ft-" in out  # Azure's fine-tuned model names
    assert "of gpt-4.1-mini-2025-04-14: ready ($1.70/h while it exists)" in out
    assert "every deployment removed; hosting cost $" in out
    assert "Verdict: better" in out
    assert (folder / "drop" / "processed" / "support.report.html").exists()
    assert "ftd emulator --flavor azure" in out
    assert _running_in(folder) == []


def test_a_demo_stopped_by_sigterm_stops_the_daemon_and_the_emulator(tmp_path: Path) -> None:
    folder = tmp_path / "stopped"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    command = [sys.executable, "-m", "ftd", "demo", "--dir", str(folder)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as demo:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "daemon running" in line:
                break
        assert _running_in(folder) != []  # the daemon and the emulator, in this folder
        demo.send_signal(signal.SIGTERM)
        out = demo.stdout.read()
        assert demo.wait(60) == 1
    assert _running_in(folder) == []
    assert "Verdict" not in out
