"""Notifications end to end: a real ``ftd run`` and emulator, loopback receivers for each kind.

Every event a state change raises reaches a signed webhook, Slack and e-mail
(over STARTTLS, with a login) once with its content; a receiver that is down
gets everything afterwards, in order, nothing twice, also across a SIGKILL;
a signed provider webhook makes the tracker read the job at once, a badly
signed or stale one is refused; no secret reaches the log, the database or
an answer. The watched facts (deployments running, models retiring) are
shown against a store directly, at the end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.config import load_settings
from ftd.config.notify import EVENT_KINDS
from ftd.daemon import notifier
from ftd.daemon.notifier import Dispatcher
from ftd.emulator.process import EmulatorProcess
from ftd.store import Store, outbox
from tests.daemon.harness import Daemon, Emulator, azure_profile, wait_until, write_dataset
from tests.daemon.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.slow
STATE_KINDS = (
    "dataset_rejected",
    "approval_waiting",
    "job_succeeded",
    "job_failed",
    "job_cancelled",
    "evaluation_verdict",
    "daemon_blocked",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    process = EmulatorProcess("--speed", "40", log_path=log)
    process.start()
    yield Emulator(process.base_url)
    process.stop()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    made: list[Daemon] = []
    yield made
    for daemon in made:
        daemon.close()


def make_daemon(
    made: list[Daemon],
    root: Path,
    emulator: Emulator,
    notify: str,
    env: dict[str, str],
    **extra: dict[str, Any],
) -> Daemon:
    daemon = Daemon(root, emulator.base_url, extra, env)
    with daemon.config_path.open("a") as config:
        config.write("\n" + notify)
    made.append(daemon)
    return daemon


def webhook_secret() -> tuple[str, bytes]:
    key = secrets.token_bytes(24)
    return "whsec_" + base64.b64encode(key).decode(), key


def secret_free(daemon: Daemon, *texts: str, secret_list: list[str]) -> None:
    """No secret in the log, the database files or the answers given."""
    places = {"log": daemon.log_text()}
    for path in daemon.state_dir.glob("ftd.db*"):
        places[path.name] = path.read_bytes().decode("latin-1")
    for index, text in enumerate(texts):
        places[f"answer {index}"] = text
    for secret in secret_list:
        for name, text in places.items():
            assert secret not in text, f"a secret in {name}"


# ----------------------------------------------------------------------------- every event kind


def test_every_state_event_reaches_each_destination_once(
    emulator: Emulator, daemons: list[Daemon], tmp_path: Path
) -> None:
    whsec, key = webhook_secret()
    hook = HttpReceiver(signing_key=key)
    slack = HttpReceiver()
    slack_token = secrets.token_hex(12)
    password = secrets.token_urlsafe(12)
    mail = SmtpReceiver(tmp_path, username="ftd", password=password)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "slack-url").write_text(slack.url(f"/services/{slack_token}") + "\n")
    notify = f"""
[[notify]]
name = "hook"
kind = "webhook"
url = "{hook.url()}"
secret_env = "TEST_HOOK_SECRET"

[[notify]]
name = "slack"
kind = "slack"
secret_credential = "slack-url"
events = ["job_succeeded", "job_failed"]

[[notify]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {mail.port}
smtp_username = "ftd"
secret_env = "TEST_SMTP_PASSWORD"
mail_from = "ftd@example.com"
mail_to = ["team@example.com"]
ca_file = "{mail.cert}"
"""
    env = {
        "TEST_HOOK_SECRET": whsec,
        "TEST_SMTP_PASSWORD": password,
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    daemon = make_daemon(
        daemons, tmp_path / "ftd", emulator, notify, env, defaults={"max_cost_usd": 0.0}
    )
    try:
        daemon.start()
        names = ("ok", "fail", "cancel", "blocked")
        for seed in names:  # ok has a test split (10 % of 120): it is evaluated
            write_dataset(daemon.incoming / f"{seed}.jsonl", 120 if seed == "ok" else 40, seed=seed)
        (daemon.incoming / "bad.jsonl").write_text('{"messages": [}\n' * 3)
        ids = {n: daemon.wait_dataset(f"{n}.jsonl", "awaiting_approval")["id"] for n in names}
        daemon.wait_dataset("bad.jsonl", "rejected")

        emulator.configure(training_not_available=True)
        assert daemon.ftd("approve", str(ids["blocked"])).returncode == 0
        daemon.wait_dataset("blocked.jsonl", "blocked")
        emulator.configure(training_not_available=False, job_failure_rate=1.0)
        assert daemon.ftd("approve", str(ids["fail"])).returncode == 0
        daemon.wait_dataset("fail.jsonl", "submitted")
        emulator.configure(job_failure_rate=0.0)
        assert daemon.ftd("approve", str(ids["ok"])).returncode == 0
        daemon.wait_dataset("ok.jsonl", "submitted")
        emulator.configure(speed=0.2)  # a job slow enough to be cancelled while it runs
        assert daemon.ftd("approve", str(ids["cancel"])).returncode == 0
        cancelled = daemon.wait_dataset("cancel.jsonl", "submitted")
        emulator.configure(speed=40.0)
        job = daemon.query("SELECT job_id FROM jobs WHERE dataset_id = ?", (cancelled["id"],))
        assert daemon.ftd("cancel", job[0]["job_id"]).returncode == 0
        failed = daemon.wait_job("fail.jsonl", "failed", timeout=90)
        succeeded = daemon.wait_job("ok.jsonl", "succeeded", timeout=90)
        daemon.wait_job("cancel.jsonl", "cancelled", timeout=60)

        expected = dict.fromkeys(STATE_KINDS, 1)
        expected["approval_waiting"] = 4
        try:
            wait_until(
                "every event at the webhook",
                lambda: all(len(hook.of(k)) >= n for k, n in expected.items()),
                timeout=90,
            )
        except AssertionError:
            seen = {k: len(hook.of(k)) for k in STATE_KINDS}
            raise AssertionError(f"{seen} at the webhook, not {expected}") from None
        wait_until("two at Slack", lambda: len(slack.arrivals) >= 2)
        wait_until("every event by mail", lambda: len(mail.mails) >= sum(expected.values()))
        # Everything queued is sent: nothing is left to come twice.
        wait_until(
            "no open delivery",
            lambda: not daemon.query("SELECT 1 FROM notification_deliveries WHERE sent_at IS NULL"),
        )
        assert {k: len(hook.of(k)) for k in STATE_KINDS} == expected
        ids_seen = [a["headers"]["webhook-id"] for a in hook.arrivals]
        assert len(ids_seen) == len(set(ids_seen)) == sum(expected.values())
        assert hook.bad_signatures == 0
        assert len(mail.mails) == sum(expected.values())
        assert len(slack.arrivals) == 2

        data = {k: [a["json"]["data"] for a in hook.of(k)] for k in STATE_KINDS}
        rejected = data["dataset_rejected"][0]
        assert rejected["dataset"] == "bad.jsonl"
        report = json.loads(daemon.dataset("bad.jsonl")["report"])
        assert rejected["errors"] == sum(e.get("count", 1) for e in report["errors"]) >= 3
        assert len(rejected["first_errors"]) == min(5, len(report["errors"]))
        assert any(line.startswith("line 1: not JSON") for line in rejected["first_errors"])
        approvals = {d["dataset_id"]: d for d in data["approval_waiting"]}
        assert set(approvals) == set(ids.values())
        first = approvals[ids["ok"]]
        assert first["limit_usd"] == 0.0
        assert first["training_usd"] > 0
        assert first["approve_command"] == f"ftd approve {ids['ok']}"
        assert data["job_failed"][0]["job_id"] == failed["job_id"]
        assert data["job_failed"][0]["message"] == failed["error_message"]
        assert data["job_failed"][0]["message"]
        assert data["job_succeeded"][0]["fine_tuned_model"] == succeeded["fine_tuned_model"]
        assert data["job_cancelled"][0]["job_id"] == job[0]["job_id"]
        blocked = data["daemon_blocked"][0]
        assert blocked["reason"] == "provider_refusing"
        assert blocked["dataset_id"] == ids["blocked"]
        verdict = data["evaluation_verdict"][0]
        assert verdict["model"] == succeeded["fine_tuned_model"]
        assert verdict["graders"], verdict
        interval = next(iter(verdict["graders"].values()))["candidate"]
        assert interval["low"] <= interval["estimate"] <= interval["high"]

        slack_kinds = sorted(a["json"]["blocks"][0]["text"]["text"] for a in slack.arrivals)
        assert any("failed" in t for t in slack_kinds)
        assert any("succeeded" in t for t in slack_kinds)
        assert all(a["path"] == f"/services/{slack_token}" for a in slack.arrivals)
        assert all(m["tls"] and m["authenticated"] for m in mail.mails)
        subjects = [m["subject"] for m in mail.mails]
        assert any(f"job {failed['job_id']} failed" in s for s in subjects)
        assert any(s.startswith("ftd: dataset") and "waits for approval" in s for s in subjects)

        before = len(hook.arrivals)
        tried = daemon.ftd("notify", "test", "hook")
        assert tried.returncode == 0, tried.stderr
        assert "dataset_rejected" in tried.stdout
        assert "sent" in tried.stdout
        assert len(hook.arrivals) == before + len(EVENT_KINDS)
        assert all(a["json"]["data"]["sample"] for a in hook.arrivals[before:])
        unknown = daemon.ftd("notify", "test", "nope")
        assert unknown.returncode != 0
        assert "hook" in unknown.stderr
        status = daemon.ftd("status", "--json")
        answer = json.loads(status.stdout)
        assert {d["destination"] for d in answer["notifications"]} == {"hook", "slack", "mail"}
        secret_free(
            daemon,
            tried.stdout,
            status.stdout,
            secret_list=[whsec, whsec.removeprefix("whsec_"), slack_token, password],
        )
    finally:
        hook.close()
        slack.close()
        mail.close()


# ----------------------------------------------------------------------------- down, then killed


def test_a_receiver_down_gets_everything_later_in_order_once_across_a_sigkill(
    emulator: Emulator, daemons: list[Daemon], tmp_path: Path
) -> None:
    whsec, key = webhook_secret()
    hook = HttpReceiver(signing_key=key)
    hook.down = True
    notify = f"""
[[notify]]
name = "hook"
kind = "webhook"
url = "{hook.url()}"
secret_env = "TEST_HOOK_SECRET"
events = ["dataset_rejected"]
"""
    daemon = make_daemon(daemons, tmp_path / "ftd", emulator, notify, {"TEST_HOOK_SECRET": whsec})
    try:
        daemon.start()
        order = ["r1", "r2", "r3"]
        for name in order:
            (daemon.incoming / f"{name}.jsonl").write_text("not json\n")
            daemon.wait_dataset(f"{name}.jsonl", "rejected")
        daemon.wait_for(
            "notification_attempt", lambda e: not e["sent"] and e["attempt"] >= 3, timeout=60
        )
        status = json.loads(daemon.ftd("status", "--json").stdout)
        failing = [w for w in status["warnings"] if w["kind"] == "notification_failing"]
        assert failing, status["warnings"]
        assert "destination hook" in failing[0]["message"]
        daemon.kill()
        open_rows = daemon.query("SELECT * FROM notification_deliveries WHERE sent_at IS NULL")
        assert len(open_rows) == 3
        assert hook.arrivals == []

        hook.down = False
        daemon.start()
        wait_until(
            "all three sent",
            lambda: (
                len(daemon.query("SELECT 1 FROM notification_deliveries WHERE sent_at > 0")) == 3
            ),
        )
        names = [a["json"]["data"]["dataset"] for a in hook.arrivals]
        assert names == [f"{n}.jsonl" for n in order]
        assert len({a["headers"]["webhook-id"] for a in hook.arrivals}) == 3
        assert hook.refused >= 3

        # A destination added by a reload gets what happens from then on.
        second = HttpReceiver(signing_key=key)
        try:
            with daemon.config_path.open("a") as config:
                config.write(notify.replace('"hook"', '"second"').replace(hook.url(), second.url()))
            reloaded = json.loads(daemon.ftd("reload", "--json").stdout)
            assert "notify" in reloaded["applied"], reloaded
            (daemon.incoming / "r4.jsonl").write_text("not json\n")
            wait_until("r4 at both", lambda: len(hook.arrivals) == 4 and second.arrivals)
            assert [a["json"]["data"]["dataset"] for a in second.arrivals] == ["r4.jsonl"]
        finally:
            second.close()
    finally:
        hook.close()


# ----------------------------------------------------------------------------- webhooks in


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _signed(key: bytes, body: bytes, *, at: int, msg_id: str) -> dict[str, str]:
    signed = f"{msg_id}.{at}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": f"v1,{signature}",
        "Content-Type": "application/json",
    }


def test_a_signed_provider_webhook_makes_the_tracker_read_the_job(
    emulator: Emulator, daemons: list[Daemon], tmp_path: Path
) -> None:
    whsec, key = webhook_secret()
    port = free_port()
    daemon = make_daemon(
        daemons,
        tmp_path / "ftd",
        emulator,
        "",
        {"TEST_OPENAI_WEBHOOK": whsec},
        tracker={"poll_seconds": 3600.0},  # a new job is looked at again after 1,200 s at most
        webhooks={"listen": f"127.0.0.1:{port}", "secret_env": "TEST_OPENAI_WEBHOOK"},
        evaluation={"enabled": False},
    )
    daemon.start()
    daemon.wait_for("webhooks_listening")
    listed = "GET /v1/fine_tuning/jobs"
    before = emulator.requests(listed)
    # A job that runs for some 30 s, so that it has news the tracker has not read yet
    # however late (on a loaded machine) the tracker's look after the submit comes.
    emulator.configure(speed=0.2)
    try:
        write_dataset(daemon.incoming / "hinted.jsonl", 40, seed="hint-")
        row = daemon.wait_dataset("hinted.jsonl", "submitted", timeout=60)
    finally:
        emulator.configure(speed=40.0)
    job_id = daemon.query("SELECT job_id FROM jobs WHERE dataset_id = ?", (row["id"],))[0][0]

    def stored_status() -> str:
        return str(daemon.query("SELECT status FROM jobs WHERE job_id = ?", (job_id,))[0][0])

    wait_until("the look after the submit", lambda: emulator.requests(listed) > before)
    looks = emulator.requests(listed)
    wait_until(
        "news at the emulator that the tracker has not read",
        lambda: emulator.client.fine_tuning.jobs.retrieve(job_id).status != stored_status(),
        timeout=60,
    )
    url = f"http://127.0.0.1:{port}/openai/webhooks"
    body = json.dumps(
        {
            "object": "event",
            "id": "evt_test1",
            "type": "fine_tuning.job.succeeded",
            "created_at": int(time.time()),
            "data": {"id": job_id},
        }
    ).encode()
    now = int(time.time())
    wrong = _signed(secrets.token_bytes(24), body, at=now, msg_id="msg_bad")
    assert _post(url, body, wrong) == 401
    stale = _signed(key, body, at=now - 600, msg_id="msg_stale")
    assert _post(url, body, stale) == 400
    daemon.wait_for("webhook_refused", lambda e: e["reason"] == "bad_signature")
    daemon.wait_for("webhook_refused", lambda e: e["reason"] == "stale")
    assert emulator.requests(listed) == looks, "the tracker looked untold: the test shows nothing"

    assert _post(url, body, _signed(key, body, at=int(time.time()), msg_id="msg_good")) == 200
    daemon.wait_for("webhook_received", lambda e: e["job_id"] == job_id)
    wait_until(
        "the tracker's look at the job it was told of",
        lambda: stored_status() == emulator.client.fine_tuning.jobs.retrieve(job_id).status,
        timeout=30,
    )
    assert emulator.requests(listed) > looks
    secret_free(daemon, secret_list=[whsec, whsec.removeprefix("whsec_")])


# ----------------------------------------------------------------------------- watched facts


@pytest.mark.anyio
async def test_a_long_deployment_and_a_retiring_base_are_told_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[paths]
state_dir = "{tmp_path / "state"}"
runtime_dir = "{tmp_path / "run"}"

[[notify]]
name = "ops"
kind = "webhook"
url = "http://127.0.0.1:9/never"
secret_env = "NEVER_READ"
deployment_hours = 2.0
retiring_days = 40

[[notify]]
name = "later"
kind = "webhook"
url = "http://127.0.0.1:9/never"
secret_env = "NEVER_READ"
deployment_hours = 10.0
events = ["deployment_running"]
"""
    )
    settings = load_settings(config, env={"HOME": str(tmp_path), "OPENAI_API_KEY": "sk-x"})
    store = await Store.open(tmp_path / "ftd.db")
    try:
        now = time.time()
        async with store.transaction() as tx:
            await tx.execute(
                "INSERT INTO deployments (provider, name, model, job_id, role, state, "
                "hourly_usd, created_at, updated_at, ready_at) VALUES ('default', 'ftd-d1', "
                "'ft:m', 'ftjob-1', 'candidate', 'ready', 1.7, ?, ?, ?)",
                (now - 3 * 3600, now, now),
            )
            await tx.execute(
                "INSERT INTO jobs (job_id, status, model, fine_tuned_model, created_at, "
                "updated_at) VALUES ('ftjob-1', 'succeeded', 'gpt-4.1-mini-2025-04-14', "
                "'ft:gpt-4.1-mini-2025-04-14:org::x', ?, ?)",
                (now, now),
            )
        soon = time.strftime("%Y-%m-%d", time.gmtime(now + 20 * 86400))
        dispatcher = Dispatcher(
            store, lambda: settings, lambda: {"gpt-4.1-mini-2025-04-14": soon}, environ={}
        )
        for _ in range(3):  # seen again and again, told once
            await dispatcher.watch_once(now)
        rows = await store.read("SELECT kind, payload FROM notifications ORDER BY id")
        kinds = [r["kind"] for r in rows]
        assert sorted(kinds) == ["deployment_running", "model_retiring"]
        payloads = {r["kind"]: json.loads(r["payload"]) for r in rows}
        running = payloads["deployment_running"]
        assert running["for_destinations"] == ["ops"]
        assert running["cost_usd"] == pytest.approx(3 * 1.7, rel=0.01)
        retiring = payloads["model_retiring"]
        assert retiring["shutdown"] == soon
        assert retiring["fine_tuned_models"] == ["ft:gpt-4.1-mini-2025-04-14:org::x"]
        await outbox.route(store, {"ops": {"deployment_running", "model_retiring"},
                                   "later": {"deployment_running"}})  # fmt: skip
        routed = await store.read("SELECT destination FROM notification_deliveries")
        assert sorted(r["destination"] for r in routed) == ["ops", "ops"]
        await dispatcher.watch_once(now + 8 * 3600)  # ten hours in: the later one's turn
        await outbox.route(store, {"later": {"deployment_running"}})
        routed = await store.read("SELECT destination FROM notification_deliveries")
        assert sorted(r["destination"] for r in routed) == ["later", "ops", "ops"]

        # A database that refused the notifier is told once it takes a write again.
        dispatcher._store_trouble(sqlite3.OperationalError("database is locked"))
        dispatcher._store_trouble(sqlite3.OperationalError("database is locked"))
        await dispatcher.watch_once(now + 8 * 3600)
        blocked = await store.read(
            "SELECT payload FROM notifications WHERE kind = 'daemon_blocked'"
        )
        assert [json.loads(r["payload"])["reason"] for r in blocked] == ["database_locked"]
        # A disk with less free room than the bound: told once while it lasts.
        monkeypatch.setattr(notifier, "DISK_FULL_BYTES", 1 << 62)
        settings.paths.state_dir.mkdir()  # in tmp_path, not the machine's /var/lib/ftd
        for _ in range(2):
            await dispatcher.watch_once(now + 8 * 3600)
        blocked = await store.read(
            "SELECT payload FROM notifications WHERE kind = 'daemon_blocked' ORDER BY id"
        )
        reasons = [json.loads(r["payload"])["reason"] for r in blocked]
        assert reasons == ["database_locked", "disk_full"]
    finally:
        await store.close()


def test_at_azure_a_kept_deployment_and_the_retiring_base_are_told_once(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    process = EmulatorProcess(
        "--flavor", "azure", "--speed", "20", log_path=tmp_path / "azure.log"
    )  # fmt: skip
    process.start()
    whsec, key = webhook_secret()
    hook = HttpReceiver(signing_key=key)
    try:
        sections, env = azure_profile(process.root_url)
        sections["provider.azure"]["keep_deployments"] = True
        notify = f"""
[[notify]]
name = "ops"
kind = "webhook"
url = "{hook.url()}"
secret_env = "TEST_HOOK_SECRET"
events = ["deployment_running", "model_retiring"]
deployment_hours = 0.0003
retiring_days = 365
"""
        evaluation = {"graders": ["exact"], "primary_grader": "exact", "judge_repeat_sample": 0}
        daemon = make_daemon(
            daemons,
            tmp_path / "ftd",
            Emulator(process.base_url),
            notify,
            {**env, "TEST_HOOK_SECRET": whsec},
            **sections,
            evaluation=evaluation,
        )
        daemon.start()
        write_dataset(daemon.incoming / "kept.jsonl", 120)
        job = daemon.wait_job("kept.jsonl", "succeeded", timeout=120)
        wait_until(
            "the kept deployments told",
            lambda: len(hook.of("deployment_running")) >= 2,
            timeout=150,
        )
        assert daemon.stop() == 0
        daemon.start()  # the tracker reads the provider's retirement dates at its start
        wait_until("the retiring base told", lambda: hook.of("model_retiring"), timeout=90)
        running = [a["json"]["data"] for a in hook.of("deployment_running")]
        rows = daemon.query("SELECT name, model FROM deployments WHERE state = 'ready'")
        assert sorted(d["name"] for d in running) == sorted(r["name"] for r in rows)
        assert all(d["threshold_hours"] == 0.0003 and d["cost_usd"] >= 0 for d in running)
        retiring = hook.of("model_retiring")[0]["json"]["data"]
        assert retiring["model"] == job["model"]
        assert retiring["fine_tuned_models"] == [job["fine_tuned_model"]]
        assert 0 < retiring["days_left"] <= 365
        assert len(hook.of("deployment_running")) == 2  # not again after the restart
        assert len(hook.of("model_retiring")) == 1
    finally:
        hook.close()
        process.stop()
