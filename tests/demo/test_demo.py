"""``ftd demo`` as a newcomer runs it: to a verdict and a report, leaving nothing running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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


def test_the_demo_runs_to_a_verdict_and_leaves_nothing_running(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "ftd", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
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
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "ftd", "demo", "--flavor", "azure", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
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
