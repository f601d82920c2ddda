"""A dataset at Azure OpenAI: trained, deployed, evaluated against its base, torn down.

Real ``ftd run`` and ``ftd emulator --flavor azure`` processes. Azure serves a
fine-tuned model only through a deployment made with Azure Resource Manager;
these tests count what reached the emulator's ARM routes and what is left
there, across SIGKILLs at the moments that matter.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator, azure_profile, wait_until, write_dataset

# Few graders and no judge: the base deployment is the only shared one.
EVALUATION = {"graders": ["exact", "f1"], "primary_grader": "f1", "judge_repeat_sample": 0}


class AzureEmulator:
    def __init__(self, process: EmulatorProcess) -> None:
        self.process = process
        self.root = process.root_url

    def admin(self, path: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.root + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.loads(answer.read())

    def deployments(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.admin("/_emulator/deployments")
        return answer

    def process_jobs(self) -> list[str]:
        """The ids of every fine-tuning job the emulator holds."""
        harness = Emulator(self.process.base_url)
        try:
            return [job.id for job in harness.jobs()]
        finally:
            harness.client.close()

    def live_names(self) -> list[str]:
        return sorted(d["name"] for d in self.deployments()["deployments"])


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[AzureEmulator]:
    process = EmulatorProcess(
        "--flavor",
        "azure",
        "--speed",
        "20",
        "--state",
        str(tmp_path / "emulator.db"),
        log_path=tmp_path / "emulator.log",
    )
    process.start()
    yield AzureEmulator(process)
    process.stop()


def azure_daemon(tmp_path: Path, azure: AzureEmulator, **azure_keys: Any) -> Daemon:
    sections, env = azure_profile(azure.root)
    sections["provider.azure"].update(azure_keys)
    return Daemon(tmp_path / "ftd", azure.root, {**sections, "evaluation": EVALUATION}, env)


def start(daemon: Daemon) -> None:
    daemon.start()


def deployment_rows(daemon: Daemon) -> list[sqlite3.Row]:
    return daemon.query("SELECT * FROM deployments ORDER BY id")


def evaluation_of(daemon: Daemon, job_id: str) -> sqlite3.Row | None:
    rows = daemon.query("SELECT * FROM evaluations WHERE job_id = ?", (job_id,))
    return rows[0] if rows else None


def all_deleted(daemon: Daemon) -> bool:
    rows = deployment_rows(daemon)
    return bool(rows) and all(r["state"] == "deleted" for r in rows)


@pytest.mark.parametrize(
    "shape",
    [{"use_v1_path": True}, {"use_v1_path": False, "api_version": "2025-04-01-preview"}],
    ids=["v1", "api-version"],
)
def test_deployed_evaluated_against_the_base_and_torn_down(
    tmp_path: Path, azure: AzureEmulator, shape: dict[str, Any]
) -> None:
    daemon = azure_daemon(tmp_path, azure, **shape)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "faq.jsonl", 120)
        job = daemon.wait_job("faq.jsonl", "succeeded", timeout=120)
        assert job["provider"] == "default"
        assert ".ft-" in job["fine_tuned_model"]  # Azure's model id, not OpenAI's ft:...
        wait_until("every deployment deleted", lambda: all_deleted(daemon), timeout=180)
        evaluation = evaluation_of(daemon, job["job_id"])
        assert evaluation is not None
        assert evaluation["status"] == "succeeded"
        rows = deployment_rows(daemon)
        assert sorted((r["role"], r["model"]) for r in rows) == [
            ("base", job["model"]),
            ("candidate", job["fine_tuned_model"]),
        ]
        # Each model's items were asked through its deployment: nothing failed.
        failed = daemon.query(
            "SELECT count(*) AS n FROM evaluation_items "
            "WHERE evaluation_id = ? AND error IS NOT NULL",
            (evaluation["id"],),
        )
        assert failed[0]["n"] == 0
        stats = azure.deployments()
        assert azure.live_names() == []
        assert (stats["puts"], stats["deletes"]) == (2, 2)
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_a_kept_deployment_survives_and_is_listed(tmp_path: Path, azure: AzureEmulator) -> None:
    daemon = azure_daemon(tmp_path, azure, keep_deployments=True)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "kept.jsonl", 120)
        job = daemon.wait_job("kept.jsonl", "succeeded", timeout=120)
        wait_until(
            "the evaluation to end",
            lambda: (e := evaluation_of(daemon, job["job_id"])) and e["status"] == "succeeded",
            timeout=180,
        )
        time.sleep(2.0)  # several deployer turns after the evaluation
        rows = deployment_rows(daemon)
        assert {r["state"] for r in rows} == {"ready"}
        assert azure.live_names() == sorted(r["name"] for r in rows)
        status = json.loads(daemon.ftd("status", "--json").stdout)
        listed = {d["name"]: d for d in status["deployments"]}
        assert set(listed) == {r["name"] for r in rows}
        assert all(d["hourly_usd"] == pytest.approx(1.70) for d in listed.values())
        text = daemon.ftd("status").stdout
        assert "deployments  2 live, $3.40/h together" in text
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_crash_after_evaluation_before_teardown_tears_down_at_start(
    tmp_path: Path, azure: AzureEmulator
) -> None:
    """The state a crash leaves between the evaluation's end and the teardown's start."""
    daemon = azure_daemon(tmp_path, azure, keep_deployments=True)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "late.jsonl", 120)
        job = daemon.wait_job("late.jsonl", "succeeded", timeout=120)
        wait_until(
            "the evaluation to end",
            lambda: (e := evaluation_of(daemon, job["job_id"])) and e["status"] == "succeeded",
            timeout=180,
        )
        daemon.kill()
        with sqlite3.connect(daemon.state_dir / "ftd.db") as db:
            db.execute("UPDATE deployments SET keep = 0")  # as if never kept: due for teardown
        assert len(azure.live_names()) == 2
        start(daemon)
        wait_until("every deployment deleted", lambda: all_deleted(daemon), timeout=120)
        assert azure.live_names() == []
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("moment", ["deployment_requested", "deployment_teardown"])
def test_sigkill_while_deploying_or_tearing_down_leaves_nothing_behind(
    tmp_path: Path, azure: AzureEmulator, moment: str
) -> None:
    daemon = azure_daemon(tmp_path, azure)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "crash.jsonl", 120)
        daemon.wait_for(moment, timeout=180)
        daemon.kill()
        names = {r["name"] for r in deployment_rows(daemon)}
        assert names  # the intent was written before the request
        # Never two deployments of one name, and none that ftd does not list.
        assert set(azure.live_names()) <= names
        start(daemon)
        wait_until("every deployment deleted", lambda: all_deleted(daemon), timeout=180)
        assert azure.live_names() == []
        assert {r["name"] for r in deployment_rows(daemon)} == names
        job = daemon.wait_job("crash.jsonl", "succeeded", timeout=10)
        evaluation = evaluation_of(daemon, job["job_id"])
        assert evaluation is not None
        assert evaluation["status"] == "succeeded"
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.mark.timeout(300)
def test_each_checkpoint_evaluated_is_deployed_and_torn_down_too(
    tmp_path: Path, azure: AzureEmulator
) -> None:
    sections, env = azure_profile(azure.root)
    evaluation = {**EVALUATION, "checkpoints": True}
    daemon = Daemon(tmp_path / "ftd", azure.root, {**sections, "evaluation": evaluation}, env)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "steps.jsonl", 120)
        job = daemon.wait_job("steps.jsonl", "succeeded", timeout=120)

        def checkpoints() -> list[sqlite3.Row]:
            """The checkpoints before the last step (the last one is the job's model)."""
            return daemon.query(
                "SELECT c.model FROM job_checkpoints c JOIN jobs j USING (job_id) "
                "WHERE c.job_id = ? AND c.model != j.fine_tuned_model",
                (job["job_id"],),
            )

        def settled() -> bool:
            rows = daemon.query("SELECT status FROM evaluations WHERE job_id = ?", (job["job_id"],))
            done = len(checkpoints()) > 0 and len(rows) == 1 + len(checkpoints())
            return done and all(r["status"] == "succeeded" for r in rows) and all_deleted(daemon)

        wait_until("every evaluation done and every deployment gone", settled, timeout=240)
        candidates = {r["model"] for r in deployment_rows(daemon) if r["role"] == "candidate"}
        final = daemon.query("SELECT fine_tuned_model FROM jobs")[0][0]
        assert candidates == {final, *(c["model"] for c in checkpoints())}
        assert azure.live_names() == []
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_sigkill_during_job_creation_finds_the_job_by_its_tag(
    tmp_path: Path, azure: AzureEmulator
) -> None:
    """Azure's job list takes no metadata filter: the job is found by reading each one's."""
    daemon = azure_daemon(tmp_path, azure)
    try:
        start(daemon)
        # The create takes effect at once; its answer leaves seconds later.
        azure.admin("/_emulator/config", {"answer_delay_ms": 10_000})
        write_dataset(daemon.incoming / "doubt.jsonl", 120)
        daemon.wait_for("job_create_sent", timeout=120)
        # The admin route answers at once (no delay): the job exists, its answer is held.
        made = wait_until(
            "the job made at the emulator",
            lambda: sorted(azure.admin("/_emulator/azure_jobs")),
            timeout=30,
        )
        daemon.kill()  # while its answer is still held
        azure.admin("/_emulator/config", {"answer_delay_ms": 0})
        assert len(made) == 1
        assert not daemon.query("SELECT job_id FROM jobs")  # ftd never heard the answer
        start(daemon)
        job = daemon.wait_job("doubt.jsonl", "succeeded", timeout=120)
        assert job["job_id"] == made[0]
        assert azure.process_jobs() == made  # found again, not made again
        assert daemon.events("job_found")
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_ftd_keep_holds_a_deployment_and_release_lets_it_go(
    tmp_path: Path, azure: AzureEmulator
) -> None:
    daemon = azure_daemon(tmp_path, azure)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "keep.jsonl", 120)
        requested = daemon.wait_for(
            "deployment_requested", lambda e: e["role"] == "candidate", timeout=120
        )
        model = requested["model"]
        kept = daemon.ftd("keep", model)
        assert kept.returncode == 0, kept.stderr
        assert f"of {model}: kept" in kept.stdout
        job = daemon.wait_job("keep.jsonl", "succeeded", timeout=60)
        wait_until(
            "the evaluation to end",
            lambda: (e := evaluation_of(daemon, job["job_id"])) and e["status"] == "succeeded",
        )
        # The base went once no candidate needed it; the kept candidate stays.
        wait_until(
            "the base torn down",
            lambda: (
                {r["role"]: r["state"] for r in deployment_rows(daemon)}
                == {"candidate": "ready", "base": "deleted"}
            ),
        )
        assert len(azure.live_names()) == 1
        released = daemon.ftd("keep", model, "--release")
        assert released.returncode == 0, released.stderr
        wait_until("the candidate torn down", lambda: all_deleted(daemon))
        assert azure.live_names() == []
        unknown = daemon.ftd("keep", "no-such-model")
        assert unknown.returncode != 0
        assert "no live deployment of no-such-model" in unknown.stderr
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_hosting_counts_in_the_spend_guard(tmp_path: Path, azure: AzureEmulator) -> None:
    sections, env = azure_profile(azure.root)
    # Training this file costs cents; two deployments for an hour cost $3.40.
    extra = {**sections, "evaluation": EVALUATION, "defaults": {"max_cost_usd": 2.0}}
    daemon = Daemon(tmp_path / "ftd", azure.root, extra, env)
    try:
        start(daemon)
        write_dataset(daemon.incoming / "hosted.jsonl", 120)
        row = daemon.wait_dataset("hosted.jsonl", "awaiting_approval", timeout=60)
        report = json.loads(row["report"])
        assert report["hosting_estimate_usd"] == pytest.approx(3.40)
        assert report["approval"]["training_usd"] < 1.0
        assert report["approval"]["evaluation_usd"] >= 3.40
        assert azure.live_names() == []
        assert daemon.stop() == 0
    finally:
        daemon.close()
