"""SIGKILL of ``ftd run`` while a Together upload or job create is in flight: exactly one
of each at the emulator afterwards, found again by name (Together keeps no metadata).

The emulator carries out each request at once and holds its answer
(``answer_delay_ms``); the kill comes once the object exists at the emulator
(read from its own lists, which answer at once on an unfaulted admin read) and
before ftd has heard of it.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, wait_until, write_dataset
from tests.reliability.runs import together_profile

DELAY_MS = 1500  # each answer held this long once set


class Together:
    def __init__(self, process: EmulatorProcess) -> None:
        self.base = process.base_url
        self.root = process.root_url

    def _get(self, url: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            url,
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json", "authorization": "Bearer k"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())

    def configure(self, **knobs: object) -> None:
        self._get(self.root + "/_emulator/config", knobs)

    def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._get(self.root + "/_emulator/state")
        return answer

    def requests(self, route: str) -> int:
        counts: dict[str, int] = self._get(self.root + "/_emulator/stats")["requests"]
        return counts.get(route, 0)

    def filenames(self, tag: str) -> list[str]:
        files = self._get(self.base + "/files")["data"]
        return sorted(f["filename"] for f in files if tag in f["filename"])

    def endpoints(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._get(self.root + "/_emulator/endpoints")
        return answer

    def job_ids(self) -> list[str]:
        return [j["id"] for j in self._get(self.base + "/fine-tunes")["data"]]


@pytest.fixture
def together(tmp_path: Path) -> Iterator[Together]:
    process = EmulatorProcess(
        "--flavor", "together", "--speed", "20", log_path=tmp_path / "together.log"
    )
    process.start()
    yield Together(process)
    process.stop()


def _daemon(tmp_path: Path, together: Together) -> Daemon:
    sections = {**together_profile(together.base), "evaluation": {"enabled": False}}
    sections["defaults"] = {"model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"}
    return Daemon(tmp_path / "ftd", together.base, sections)


def _counts(together: Together) -> tuple[int, int]:
    """(files, jobs) from the admin route, which no answer delay holds back."""
    state = together.state()
    return sum(state["files"].values()), sum(state["jobs"].values())


def test_sigkill_during_upload_then_during_job_creation_leaves_one_of_each(
    tmp_path: Path, together: Together
) -> None:
    """Two lives killed in doubt: the upload's, then the create's (one daemon, lean)."""
    daemon = _daemon(tmp_path, together)
    try:
        daemon.start()
        # Every answer comes late: a delay set later could miss the request it is for.
        together.configure(answer_delay_ms=DELAY_MS)
        write_dataset(daemon.incoming / "doubt.jsonl", 60)
        daemon.wait_for("upload_started", lambda e: e["side"] == "train", timeout=60)
        wait_until("the train file at the emulator", lambda: _counts(together)[0] >= 1)
        daemon.kill()  # its answer is still held
        row = daemon.dataset("doubt.jsonl")
        assert row["state"] == "uploading"
        recorded = daemon.query("SELECT file_id FROM uploads WHERE dataset_id = ?", (row["id"],))
        assert [r["file_id"] for r in recorded] == [None]  # ftd never heard back
        daemon.start()
        daemon.wait_for("job_create_sent", timeout=120)
        wait_until("the job at the emulator", lambda: _counts(together)[1] >= 1)
        daemon.kill()  # again with the answer held
        together.configure(answer_delay_ms=0)
        made = together.job_ids()
        assert len(made) == 1
        assert not daemon.query("SELECT job_id FROM jobs")  # ftd never heard the answer
        daemon.start()
        job = daemon.wait_job("doubt.jsonl", "succeeded", timeout=120)
        assert job["job_id"] == made[0]
        assert daemon.events("job_found")  # by its training file's name: no metadata here
        prefix = f"ftd-{row['sha256'][:16]}-{row['tag']}"
        assert together.filenames(row["tag"]) == [
            f"{prefix}-train.jsonl",
            f"{prefix}-validation.jsonl",
        ]
        assert together.requests("POST /v1/files/upload") == 2
        assert together.requests("POST /v1/fine-tunes") == 1
        assert together.job_ids() == made  # found again, not made again
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.fixture
def slow_together(tmp_path: Path) -> Iterator[Together]:
    """A slower clock: the job outlives the moment ftd is frozen after its create."""
    process = EmulatorProcess(
        "--flavor",
        "together",
        "--speed",
        "2",
        "--deployment-provisioning-seconds",
        "4",
        log_path=tmp_path / "together.log",
    )
    process.start()
    yield Together(process)
    process.stop()


def test_sigkill_during_endpoint_creation_leaves_one_endpoint(
    tmp_path: Path, slow_together: Together
) -> None:
    """A full fine-tune needs a dedicated endpoint; the kill comes while its create is held."""
    together = slow_together
    sections = {
        **together_profile(together.base),
        "evaluation": {"graders": ["exact", "f1"], "primary_grader": "f1"},
    }
    sections["provider.together"]["endpoint_hardware"] = "1x_nvidia_h100_80gb_sxm"
    sections["defaults"] = {"model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"}
    daemon = Daemon(tmp_path / "ftd", together.base, sections)
    try:
        daemon.start()
        (daemon.incoming / "hosted.toml").write_text('[together]\ntraining_type = "full"\n')
        write_dataset(daemon.incoming / "hosted.jsonl", 120)
        daemon.wait_for("job_create_sent", timeout=120)
        # Held still while the delay is set: the job cannot have ended yet (the emulator's
        # clock), so every call from here on, the endpoint's create among them, meets it.
        os.kill(daemon.pid, signal.SIGSTOP)
        together.configure(answer_delay_ms=DELAY_MS)
        os.kill(daemon.pid, signal.SIGCONT)
        wait_until("the endpoint at the emulator", lambda: together.endpoints()["creates"] >= 1)
        daemon.kill()
        together.configure(answer_delay_ms=0)
        # ftd never heard the create's answer: its row still says it only meant to ask.
        assert [r["state"] for r in daemon.query("SELECT state FROM deployments")] == ["intended"]
        daemon.start()
        wait_until(
            "the endpoint deleted after the evaluation",
            lambda: (
                [r["state"] for r in daemon.query("SELECT state FROM deployments")] == ["deleted"]
            ),
            timeout=180,
        )
        evaluations = daemon.query("SELECT status FROM evaluations")
        assert [r["status"] for r in evaluations] == ["succeeded"]
        endpoints = together.endpoints()
        assert (endpoints["creates"], endpoints["deletes"], endpoints["live"]) == (1, 1, [])
        assert daemon.stop() == 0
    finally:
        daemon.close()
