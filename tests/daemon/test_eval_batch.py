"""Evaluation through the batch engine, end to end: ``ftd run`` and ``ftd emulator`` processes.

One emulator and one fine-tuned model serve the module. Each test evaluates
that model against its base on the same held-out items, in a daemon of its
own (so no daemon finds another's answers in its cache): live, then through
batches, with the verdicts, grades and answers compared; with SIGKILLs at
batch creation, while following and at the output's commit; with batches
that expire or partly fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon, Emulator
from tests.daemon.test_evaluation import drop, support_records
from tests.emulator.helpers import chat_example, support_examples

CHAT = "POST /v1/chat/completions"
ITEMS = 14
# Short polls, several batches per stage (7 requests each), a judge repeat sample.
EVALUATION: dict[str, Any] = {
    "enabled": False,
    "judge_repeat_sample": 3,
    "resamples": 1000,
    "batch_poll_seconds": 0.2,
    "batch_max_requests": 7,
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("emulator")
    process = EmulatorProcess("--speed", "500", log_path=root / "emulator.log")
    process.start()
    try:
        yield Emulator(process.base_url)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def trained(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fine-tuned model (and its base) made once for the module."""
    daemon = Daemon(
        tmp_path_factory.mktemp("trainer"), emulator.base_url, {"evaluation": EVALUATION}
    )
    try:
        daemon.start()
        drop(daemon, "support.jsonl", support_records())
        job = daemon.wait_job("support.jsonl", "succeeded", timeout=120)
        deadline = time.monotonic() + 60
        while not daemon.query("SELECT model_ready_at FROM jobs")[0][0]:
            assert time.monotonic() < deadline, "the new model never answered"
            time.sleep(0.1)
        return {"model": job["fine_tuned_model"], "base": job["model"]}
    finally:
        daemon.close()


@pytest.fixture(scope="module")
def test_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("items") / "held.jsonl"
    pairs = support_examples(200)[-ITEMS:]
    path.write_text("".join(json.dumps(chat_example(q, a)) + "\n" for q, a in pairs))
    return path


@pytest.fixture(scope="module")
def live(
    emulator: Emulator,
    trained: dict[str, str],
    test_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The live evaluation every batch evaluation is compared with."""
    daemon = Daemon(tmp_path_factory.mktemp("live"), emulator.base_url, {"evaluation": EVALUATION})
    try:
        daemon.start()
        ident = queue(daemon, trained, test_file)
        return finished(daemon, ident)
    finally:
        daemon.close()


def queue(daemon: Daemon, trained: dict[str, str], test_file: Path, *more: str) -> str:
    queued = daemon.ftd(
        "eval", trained["model"], "--test-file", str(test_file), "--base", trained["base"], *more
    )
    assert queued.returncode == 0, queued.stderr
    return queued.stdout.split()[0]


def finished(daemon: Daemon, ident: str, *, timeout: float = 180.0) -> dict[str, Any]:
    """The evaluation's row, summary and items once it has finished."""
    number = int(ident.removeprefix("eval-"))
    deadline = time.monotonic() + timeout
    while True:
        rows = daemon.query("SELECT * FROM evaluations WHERE id = ?", (number,))
        if rows and rows[0]["status"] in ("succeeded", "stopped", "failed"):
            break
        if time.monotonic() > deadline:
            tail = "\n".join(daemon.log_text().splitlines()[-30:])
            raise AssertionError(f"{ident} did not finish: {[dict(r) for r in rows]}\n{tail}")
        time.sleep(0.2)
    row = dict(rows[0])
    row["summary"] = json.loads(row["summary"]) if row["summary"] else None
    row["items"] = [
        dict(r)
        for r in daemon.query(
            "SELECT item, role, model, response, scores, error FROM evaluation_items "
            "WHERE evaluation_id = ? ORDER BY item, role",
            (number,),
        )
    ]
    for item in row["items"]:
        item["scores"] = json.loads(item["scores"])
    return row


def same_outcome(batch: dict[str, Any], live: dict[str, Any]) -> None:
    assert batch["status"] == live["status"] == "succeeded"
    assert batch["verdict"] == live["verdict"]
    assert batch["items"] == live["items"]  # answers, every grader's scores, no error
    for grader, graded in live["summary"]["graders"].items():
        assert batch["summary"]["graders"][grader] == graded, grader


def batches_at_emulator(emulator: Emulator, daemon: Daemon, ident: str) -> dict[str, int]:
    """How many batches the emulator holds for each of this daemon's tags of the evaluation."""
    number = int(ident.removeprefix("eval-"))
    token = daemon.query("SELECT token FROM eval_batch_runs WHERE evaluation_id = ?", (number,))
    if not token:
        return {}
    prefix = f"ftd-e{number}-{token[0]['token']}-"
    counts: dict[str, int] = {}
    for metadata in emulator._control("/_emulator/state")["batch_metadata"]:
        tag = metadata.get("ftd_batch", "")
        if tag.startswith(prefix):
            counts[tag] = counts.get(tag, 0) + 1
    return counts


def test_a_batch_evaluation_reaches_the_live_verdict_at_half_the_price(
    emulator: Emulator,
    trained: dict[str, str],
    test_file: Path,
    live: dict[str, Any],
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(emulator, evaluation=EVALUATION)
    daemon.start()
    asked_live = emulator.requests(CHAT)
    ident = queue(daemon, trained, test_file, "--batch")
    batch = finished(daemon, ident)

    same_outcome(batch, live)
    assert emulator.requests(CHAT) == asked_live, "no request went to the live route"
    summary = batch["summary"]
    assert summary["mode"]["mode"] == "batch"
    assert batch["cost_usd"] * 2 == pytest.approx(live["cost_usd"], rel=1e-9)
    assert summary["cost_comparison"]["live_usd"] == pytest.approx(live["cost_usd"], abs=2e-6)
    stages = summary["batches"]["stages"]
    # 14 items x 2 answers in files of 7: two per model; then the judge's requests.
    assert stages["answers"]["batches"] == 4
    assert stages["answers"]["completed"] == 2 * ITEMS
    assert stages["judging"]["completed"] == ITEMS * 4 + 3
    assert all(n == 1 for n in batches_at_emulator(emulator, daemon, ident).values())
    chosen = daemon.wait_for("evaluation_mode")
    assert chosen["mode"] == "batch"

    shown = daemon.ftd("show", ident)
    assert shown.returncode == 0, shown.stderr
    assert "batch" in shown.stdout


def test_sigkill_at_creation_while_following_and_at_commit_changes_nothing(
    emulator: Emulator,
    trained: dict[str, str],
    test_file: Path,
    live: dict[str, Any],
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(emulator, evaluation=EVALUATION)
    daemon.start()
    # The emulator creates the batch and holds its answer: ftd dies not knowing it exists.
    emulator.configure(answer_delay_ms=3000)
    try:
        ident = queue(daemon, trained, test_file, "--batch")
        daemon.wait_for("remote_create", lambda e: e.get("operation") == "create_batch")
        deadline = time.monotonic() + 30
        while not batches_at_emulator(emulator, daemon, ident):
            assert time.monotonic() < deadline, "the batch never reached the emulator"
            time.sleep(0.05)
        daemon.kill()
    finally:
        emulator.configure(answer_delay_ms=0)

    emulator.configure(batch_seconds=1500)  # 3 s a batch at speed 500: time to die following
    try:
        daemon.start()
        daemon.wait_for("eval_batch_found")
        daemon.wait_for("eval_batch_progress", lambda e: e.get("status") == "in_progress")
        daemon.kill()
    finally:
        emulator.configure(batch_seconds=120)

    daemon.start()
    daemon.wait_for("eval_batch_progress", lambda e: e.get("status") == "completed", timeout=60)
    daemon.kill()  # as the first output is being committed (or just after)

    daemon.start()
    batch = finished(daemon, ident)
    same_outcome(batch, live)
    assert batch["cost_usd"] * 2 == pytest.approx(live["cost_usd"], rel=1e-9)
    counts = batches_at_emulator(emulator, daemon, ident)
    assert counts
    assert all(n == 1 for n in counts.values()), counts
    rows = daemon.query("SELECT tag FROM eval_batches WHERE evaluation_id = ?", (int(ident[5:]),))
    assert {r["tag"] for r in rows} == set(counts)


def test_expired_and_partly_failed_batches_are_retried_to_completion(
    emulator: Emulator,
    trained: dict[str, str],
    test_file: Path,
    live: dict[str, Any],
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon(emulator, evaluation={**EVALUATION, "batch_rounds": 8})
    daemon.start()
    emulator.configure(batch_expire_rate=0.4, batch_request_failure_rate=0.25)
    try:
        ident = queue(daemon, trained, test_file, "--batch")
        batch = finished(daemon, ident)
    finally:
        emulator.configure(batch_expire_rate=0.0, batch_request_failure_rate=0.0)
    same_outcome(batch, live)
    number = int(ident[5:])
    reasons = [
        r["reason"]
        for r in daemon.query(
            "SELECT reason FROM eval_batch_failures WHERE evaluation_id = ?", (number,)
        )
    ]
    assert any("batch_expired" in r for r in reasons), reasons
    assert any("status 500" in r for r in reasons), reasons
    statuses = {
        r["status"]
        for r in daemon.query("SELECT status FROM eval_batches WHERE evaluation_id = ?", (number,))
    }
    assert "expired" in statuses
    assert batch["summary"]["batches"]["failed_requests"] > 0
    # Retried requests were paid for once, at batch prices or (if still failing) live.
    assert batch["summary"]["cost_comparison"]["live_usd"] == pytest.approx(
        live["cost_usd"], abs=2e-6
    )


def test_a_provider_without_a_batch_engine_runs_live_and_says_why(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, test_file: Path
) -> None:
    azure = start_emulator("--flavor", "azure")
    daemon = make_daemon(azure, evaluation={**EVALUATION, "graders": ["exact"]})
    daemon.start()
    queued = daemon.ftd("eval", "gpt-4.1-mini", "--test-file", str(test_file), "--batch")
    assert queued.returncode == 0, queued.stderr
    ident = queued.stdout.split()[0]
    chosen = daemon.wait_for("evaluation_mode")
    assert chosen["mode"] == "live"
    assert "azure provider has no batch engine" in chosen["reason"]
    finished(daemon, ident)  # no deployment answers here: the items fail, live, with reasons
    assert azure.requests("POST /openai/v1/chat/completions") >= ITEMS
    assert not daemon.query("SELECT * FROM eval_batches")
    shown = daemon.ftd("show", ident)
    assert "no batch engine" in shown.stdout
