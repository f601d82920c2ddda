"""The ``ftd`` commands as people run them: real processes against a real daemon and emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftd.control.client import Client
from ftd.intake import ticket_body, ticket_name
from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import Daemon, good_lines, run_ftd, write_dataset


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert isinstance(answer, dict)
    return answer


def test_status_lists_show_and_events(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "faq.jsonl")
    job = daemon.wait_job("faq.jsonl", "succeeded")
    daemon.wait_for("job_finished")
    model = job["fine_tuned_model"]

    status = daemon.ftd("status")
    assert status.returncode == 0, status.stderr
    assert "submitted 1" in status.stdout
    assert "succeeded 1" in status.stdout
    raw = _json(daemon.ftd("status", "--json"))
    assert raw["datasets"] == {"submitted": 1}
    assert raw["jobs"] == {"succeeded": 1}
    assert raw["pid"] == daemon.pid

    # spend so far: the job's charge and its evaluation's, under the job's profile
    daemon.wait_for("evaluation_finished", timeout=60)
    spent = _json(daemon.ftd("status", "--json"))["spend"]
    assert isinstance(spent, dict)
    [training] = daemon.query("SELECT SUM(cost_usd) AS usd FROM jobs")
    [evaluating] = daemon.query("SELECT SUM(cost_usd) AS usd FROM evaluations")
    assert training["usd"] > 0
    assert evaluating["usd"] > 0
    figures = spent["by_profile"]["default"]
    assert figures["training"] == {
        "month": round(training["usd"], 6), "all_time": round(training["usd"], 6)
    }  # fmt: skip
    assert figures["evaluation"]["all_time"] == round(evaluating["usd"], 6)
    assert figures["evaluation"]["month"] == figures["evaluation"]["all_time"]
    assert figures["hosting"] is None
    line = next(x for x in daemon.ftd("status").stdout.splitlines() if x.startswith("spent"))
    assert line.startswith("spent        default: training $")
    assert "this month" in line
    assert "all time" in line
    assert "; evaluation $" in line

    datasets = _json(daemon.ftd("datasets", "--json"))["datasets"]
    assert isinstance(datasets, list)
    assert [(d["name"], d["state"], d["job_id"]) for d in datasets] == [
        ("faq.jsonl", "submitted", job["job_id"])
    ]
    table = daemon.ftd("datasets").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "STATE"]
    assert "faq.jsonl" in table[1]

    assert job["job_id"] in daemon.ftd("jobs", "--status", "succeeded").stdout
    assert daemon.ftd("jobs", "--status", "running").stdout.strip() == "no jobs"
    assert daemon.ftd("jobs", "--since", "1h", "--json").returncode == 0
    jobs = _json(daemon.ftd("jobs", "--json"))["jobs"]
    assert isinstance(jobs, list)
    assert jobs[0]["progress"]["step"] == jobs[0]["progress"]["total_steps"]
    finished_row = daemon.ftd("jobs").stdout.splitlines()[1]
    assert finished_row.count(" ago") == 1  # when it was created; a finished job has no ETA

    shown = daemon.ftd("show", job["job_id"])
    assert shown.returncode == 0, shown.stderr
    assert model in shown.stdout
    assert "train loss" in shown.stdout
    detail = _json(daemon.ftd("show", job["job_id"], "--json"))
    assert detail["kind"] == "job"
    assert detail["events_total"] == len(
        daemon.query("SELECT 1 FROM job_events WHERE job_id = ?", (job["job_id"],))
    )
    by_name = _json(daemon.ftd("show", "faq.jsonl", "--json"))
    by_number = _json(daemon.ftd("show", str(by_name["dataset"]["id"]), "--json"))  # type: ignore[index]
    assert by_name == by_number
    assert by_name["validation"]["examples"] == 120  # type: ignore[index]
    assert _json(daemon.ftd("show", model, "--json"))["kind"] == "job"

    missing = daemon.ftd("show", "nothing-here")
    assert missing.returncode == 1
    assert missing.stderr.startswith("ftd show: no dataset, job or evaluation 'nothing-here'")

    events = daemon.ftd("events", job["job_id"], "-n", "3")
    assert len(events.stdout.splitlines()) == 3
    _events_come_in_the_providers_order(daemon, job["job_id"])
    assert "ftd models" not in daemon.ftd("models").stderr
    assert model in daemon.ftd("models").stdout
    assert daemon.stop() == 0


def _events_come_in_the_providers_order(daemon: Daemon, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while daemon.query("SELECT 1 FROM jobs WHERE events_cursor IS NOT NULL"):
        assert time.monotonic() < deadline, "the tracker never caught up on events"
        time.sleep(0.2)
    every = daemon.ftd("events", job_id, "--json", "-n", "100000")
    assert every.returncode == 0, every.stderr
    listed = [json.loads(line) for line in every.stdout.splitlines()]
    assert len(listed) == len(daemon.query("SELECT 1 FROM job_events WHERE job_id = ?", (job_id,)))
    steps = [e["data"]["step"] for e in listed if e["type"] == "metrics"]
    assert steps == sorted(steps)
    assert len(steps) == len(set(steps)) > 3
    assert listed[0]["message"].startswith("Created fine-tuning job")
    assert listed[-1]["message"] == "The job has successfully completed"
    # Following a finished job: its last three, in order, and nothing older after them.
    followed = daemon.ftd("events", job_id, "--follow", "--json", "-n", "3", timeout=60)
    assert followed.returncode == 0, followed.stderr
    assert [json.loads(line) for line in followed.stdout.splitlines()] == listed[-3:]


def test_follow_streams_every_event_once_and_watch_prints_when_piped(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator("--speed", "4")
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "slow.jsonl", count=60)
    job = daemon.wait_job("slow.jsonl", "running", timeout=60)
    watch = subprocess.Popen(
        [sys.executable, "-m", "ftd", "watch", "--interval", "0.3", "--socket", str(daemon.socket)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    follow = daemon.ftd("events", job["job_id"], "--follow", "--json", "-n", "1000", timeout=180)
    assert follow.returncode == 0, follow.stderr
    watch.send_signal(signal.SIGINT)
    seen, _ = watch.communicate(timeout=10)
    streamed = [json.loads(line) for line in follow.stdout.splitlines()]
    ids = [event["event_id"] for event in streamed]
    stored = daemon.query("SELECT event_id FROM job_events WHERE job_id = ?", (job["job_id"],))
    assert len(ids) == len(set(ids))
    assert set(ids) == {row["event_id"] for row in stored}
    assert daemon.query("SELECT status FROM jobs")[0]["status"] == "succeeded"
    assert job["job_id"] in seen
    assert "PROGRESS" in seen
    assert seen.count("ftd watch") >= 2  # a new block each time something changed


def test_pause_resume_cancel(start_emulator: StartEmulator, make_daemon: MakeDaemon) -> None:
    emulator = start_emulator("--speed", "0.5")
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "long.jsonl")
    job = daemon.wait_job("long.jsonl", "running", timeout=120)
    job_id = job["job_id"]

    paused = daemon.ftd("pause", job_id)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == f"job {job_id}: running -> paused"
    daemon.wait_job("long.jsonl", "paused")
    resumed = daemon.ftd("resume", job_id)
    assert resumed.returncode == 0, resumed.stderr
    daemon.wait_job("long.jsonl", "running")
    cancelled = daemon.ftd("cancel", job_id, "--json")
    assert _json(cancelled)["status"] == "cancelled"
    daemon.wait_job("long.jsonl", "cancelled")
    again = daemon.ftd("cancel", job_id)
    assert again.returncode == 1
    assert "has cancelled; nothing to cancel" in again.stderr
    unknown = daemon.ftd("pause", "ftjob-unknown")
    assert unknown.returncode == 1
    assert "ftd adopt ftjob-unknown" in unknown.stderr
    changes = daemon.events("control_command")
    assert [e["cmd"] for e in changes] == ["pause", "resume", "cancel", "cancel", "pause"]
    assert all(e["uid"] == os.geteuid() for e in changes)


def test_retry_after_fixing_the_sidecar_and_approve(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator, defaults={"max_cost_usd": 0.0001})
    daemon.start()
    (daemon.incoming / "typo.toml").write_text('modle = "gpt-4.1-mini-2025-04-14"\n')
    write_dataset(daemon.incoming / "typo.jsonl")
    rejected = daemon.wait_dataset("typo.jsonl", "rejected")
    assert "modle" in rejected["error"]
    busy = daemon.ftd("approve", "typo.jsonl")
    assert busy.returncode == 1
    assert "is rejected, not awaiting approval" in busy.stderr

    fixed = daemon.drop / "rejected" / "typo.toml"
    fixed.write_text('suffix = "fixed"\nmax_cost_usd = 0.00005\n')
    retried = daemon.ftd("retry", "typo.jsonl")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"dataset {rejected['id']}: rejected -> detected"
    waiting = daemon.wait_dataset("typo.jsonl", "awaiting_approval")
    assert waiting["id"] == rejected["id"]
    warnings = _json(daemon.ftd("status", "--json"))["warnings"]
    assert isinstance(warnings, list)
    assert [w["kind"] for w in warnings] == ["awaiting_approval"]

    approved = daemon.ftd("approve", str(rejected["id"]))
    assert approved.returncode == 0, approved.stderr
    job = daemon.wait_job("typo.jsonl", "succeeded")
    assert ":fixed:" in job["fine_tuned_model"]
    history = [
        r["to_state"]
        for r in daemon.query(
            "SELECT to_state FROM transitions "
            "WHERE entity = 'dataset' AND entity_id = ? ORDER BY id",
            (rejected["id"],),
        )
    ]
    assert history[:4] == ["detected", "validating", "rejected", "detected"]
    again = daemon.ftd("retry", "typo.jsonl")
    assert again.returncode == 1
    assert "only rejected, failed, blocked" in again.stderr


def test_adopt_a_job_made_elsewhere(start_emulator: StartEmulator, make_daemon: MakeDaemon) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    data = ("\n".join(good_lines(20)) + "\n").encode()
    upload = emulator.client.files.create(file=("own.jsonl", data), purpose="fine-tune")
    made = emulator.client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14", training_file=upload.id
    )
    adopted = daemon.ftd("adopt", made.id)
    assert adopted.returncode == 0, adopted.stderr
    assert "is now followed" in adopted.stdout
    assert "followed already" in daemon.ftd("adopt", made.id).stdout
    rows = daemon.query("SELECT adopted FROM jobs WHERE job_id = ?", (made.id,))
    assert [r["adopted"] for r in rows] == [1]
    unknown = daemon.ftd("adopt", "ftjob-doesnotexist")
    assert unknown.returncode == 1
    assert "does not know" in unknown.stderr
    deadline = time.monotonic() + 60
    while daemon.query("SELECT status FROM jobs WHERE job_id = ?", (made.id,))[0][0] != "succeeded":
        assert time.monotonic() < deadline, "adopted job not followed to its end"
        time.sleep(0.2)


def test_reload_applies_what_is_safe(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    text = daemon.config_path.read_text()
    daemon.config_path.write_text(
        text.replace("poll_seconds = 0.3", "poll_seconds = 0.7")
        .replace("[tracker]", '[defaults]\nmodel = "gpt-4.1-nano-2025-04-14"\n\n[tracker]')
        .replace('"run")', '"run")')
        .replace("stable_seconds = 0.3", "stable_seconds = 0.4")
    )
    answer = _json(daemon.ftd("reload", "--json"))
    assert answer["applied"] == ["defaults.model", "tracker.poll_seconds"]
    assert answer["needs_restart"] == ["intake.stable_seconds"]
    write_dataset(daemon.incoming / "nano.jsonl")
    job = daemon.wait_job("nano.jsonl", "succeeded")
    assert job["model"] == "gpt-4.1-nano-2025-04-14"
    daemon.config_path.write_text("[tracker]\npoll_seconds = -1\n")
    refused_run = daemon.ftd("reload", "--json")
    assert refused_run.returncode == 78, refused_run.stderr  # EX_CONFIG, not success
    refused = json.loads(refused_run.stdout)
    assert refused["ok"] is False
    assert "tracker.poll_seconds" in str(refused["error"])
    said = daemon.ftd("reload")
    assert said.returncode == 78
    assert said.stderr.startswith("ftd reload: configuration not reloaded:")
    assert "tracker.poll_seconds" in said.stderr
    os.kill(daemon.pid, signal.SIGHUP)
    daemon.wait_for("reload_failed", lambda e: e is not refused)
    assert daemon.ftd("status").returncode == 0


@pytest.mark.parametrize(
    ("command", "option", "named"),
    [
        ("datasets", "--state", "awaiting_approval"),
        ("jobs", "--status", "active"),
        ("evaluations", "--status", "stopped"),
    ],
)
def test_an_unknown_filter_value_is_a_usage_error(command: str, option: str, named: str) -> None:
    # No daemon is needed: the value is refused before any connection.
    result = run_ftd(command, option, "bogus", "--socket", "/nonexistent/ftd.sock")
    assert result.returncode == 2, result.stderr
    assert "invalid choice: 'bogus'" in result.stderr
    assert named in result.stderr


def test_no_daemon_and_a_stale_socket(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    absent = daemon.ftd("status")
    assert absent.returncode == 69
    assert "does not exist" in absent.stderr
    assert "ftd run" in absent.stderr
    daemon.start()
    assert daemon.ftd("status").returncode == 0
    daemon.kill()  # SIGKILL: the socket file stays behind
    assert daemon.socket.exists()
    stale = daemon.ftd("status")
    assert stale.returncode == 69
    assert "left by one that stopped" in stale.stderr
    daemon.start()
    back = _json(daemon.ftd("status", "--json"))
    assert back["pid"] == daemon.pid
    assert daemon.events("control_socket_stale")


def test_a_second_daemon_on_the_same_socket_refuses_to_start(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    first = make_daemon(emulator)
    first.start()
    second = make_daemon(emulator, control={"socket": str(first.socket)})
    second.start(wait=False)
    deadline = time.monotonic() + 30
    while second._process is not None and second._process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert second._process is not None
    assert second._process.returncode == 75
    assert "ftd.sock.lock" in second.log_text()
    assert _json(first.ftd("status", "--json"))["pid"] == first.pid


def test_a_hundred_clients_at_once(start_emulator: StartEmulator, make_daemon: MakeDaemon) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    answers: list[int] = []
    failures: list[BaseException] = []

    def one() -> None:
        try:
            with Client(daemon.socket, timeout=30) as client:
                answers.extend(client.call("status")["pid"] for _ in range(3))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert answers == [daemon.pid] * 300


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs /usr/bin/python3")
def test_another_user_is_refused(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    import tempfile

    emulator = start_emulator()
    place = Path(tempfile.mkdtemp(prefix="ftd-"))
    place.chmod(0o755)
    daemon = make_daemon(emulator, control={"socket": str(place / "ftd.sock")})
    daemon.start()
    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}

    def as_nobody() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/usr/bin/python3", "-m", "ftd", "status", "--socket", str(place / "ftd.sock")],
            capture_output=True,
            text=True,
            env=env,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            timeout=30,
            check=False,
        )

    by_mode = as_nobody()
    assert by_mode.returncode == 77, by_mode.stderr
    assert "permission denied" in by_mode.stderr
    assert "'root'" in by_mode.stderr
    assert "usermod -aG root" not in by_mode.stderr  # joining root's group is no advice
    # A socket opened up by mistake: the daemon's own check still refuses, and
    # the refusal is read every time, never lost to a "Broken pipe".
    (place / "ftd.sock").chmod(0o666)
    for _ in range(5):
        by_credentials = as_nobody()
        assert by_credentials.returncode == 77, by_credentials.stderr
        assert "uid 65534" in by_credentials.stderr
        assert "may not use this socket" in by_credentials.stderr
    refused = daemon.wait_for("control_refused")
    assert refused["uid"] == NOBODY
    assert run_ftd("status", "--socket", str(place / "ftd.sock")).returncode == 0  # root may


def test_submit_without_a_daemon_then_taken(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    source = tmp_path / "faq.jsonl"
    source.write_text("\n".join(good_lines(120)) + "\n")
    sidecar = tmp_path / "faq.toml"
    sidecar.write_text('suffix = "sub"\n')
    (daemon.drop / "incoming" / "faq.jsonl").write_text("someone else's file\n")
    for what in ("processing", "processed", "rejected"):
        (daemon.drop / what).mkdir(exist_ok=True)
    done = run_ftd("submit", str(source), "--sidecar", str(sidecar), "--drop", str(daemon.drop))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(daemon.incoming / "faq-2.jsonl")
    assert (daemon.incoming / "faq-2.toml").read_text() == 'suffix = "sub"\n'
    assert (daemon.incoming / "faq.jsonl").read_text() == "someone else's file\n"
    staged = [p.name for p in (daemon.drop / "staging").iterdir()]
    assert staged == [ticket_name((daemon.incoming / "faq-2.jsonl").stat().st_ino)]
    (daemon.incoming / "faq.jsonl").unlink()
    daemon.start()
    job = daemon.wait_job("faq-2.jsonl", "succeeded")
    assert ":sub:" in job["fine_tuned_model"]
    bad = run_ftd("submit", str(tmp_path / "none.jsonl"), "--drop", str(daemon.drop))
    assert bad.returncode == 1
    assert "not a readable file" in bad.stderr


def test_ask_evaluate_and_delete_a_model(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "sums.jsonl")
    job = daemon.wait_job("sums.jsonl", "succeeded")
    model = job["fine_tuned_model"]
    deadline = time.monotonic() + 30
    while not daemon.query("SELECT model_ready_at FROM jobs")[0][0]:
        assert time.monotonic() < deadline, "the new model never answered"
        time.sleep(0.1)

    answer = daemon.ftd("ask", model, "What is 7 plus 7?")
    assert answer.returncode == 0, answer.stderr
    # The emulated model answers with a reply from its training data; its base does not.
    assert answer.stdout.strip() in {str(2 * i) for i in range(120)}
    base = daemon.ftd("ask", job["model"], "What is 7 plus 7?", "--system", "Be brief.")
    assert base.returncode == 0, base.stderr
    assert len(base.stdout.split()) > 5
    unknown = daemon.ftd("ask", "gpt-nothing", "hello")
    assert unknown.returncode == 1
    assert "gpt-nothing" in unknown.stderr

    test_file = tmp_path / "held.jsonl"
    test_file.write_text("\n".join(good_lines(12, seed="Tell me: ")) + "\n")
    queued = daemon.ftd("eval", model, "--test-file", str(test_file), "--base", job["model"])
    assert queued.returncode == 0, queued.stderr
    ident = queued.stdout.split()[0]
    assert ident.startswith("eval-")
    deadline = time.monotonic() + 60
    while True:
        detail = _json(daemon.ftd("show", ident, "--json"))
        if detail["evaluation"]["status"] == "succeeded":  # type: ignore[index]
            break
        assert time.monotonic() < deadline, detail
        time.sleep(0.3)
    assert detail["kind"] == "evaluation"
    assert detail["summary"]["progress"] == {"done": 12, "total": 12, "errors": 0}  # type: ignore[index]
    shown = daemon.ftd("show", ident).stdout
    assert "GRADER" in shown
    assert "verdict" in shown
    listed = _json(daemon.ftd("status", "--json"))["evaluations"]
    assert listed["by_status"]["succeeded"] >= 1  # type: ignore[index]
    bad = daemon.ftd("eval", model, "--test-file", str(tmp_path / "absent.jsonl"))
    assert bad.returncode == 1
    assert "absent.jsonl" in bad.stderr

    refused = daemon.ftd("delete-model", model)  # stdin is not a terminal: no confirmation
    assert refused.returncode == 2
    assert "not confirmed" in refused.stderr
    deleted = daemon.ftd("delete-model", model, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted" in daemon.ftd("models").stdout.splitlines()[1]
    again = daemon.ftd("delete-model", model, "--yes")
    assert again.returncode == 1
    assert "deleted already" in again.stderr
    stranger = daemon.ftd("delete-model", "ft:gpt-4.1-mini:other::x", "--yes")
    assert stranger.returncode == 1
    assert "not a model ftd made" in stranger.stderr
    assert daemon.events("model_deleted")[0]["model"] == model


def test_submit_asks_the_daemon_for_its_drop_folder(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    # the client's own configuration names another folder, as after the README's recipe
    # (a daemon started with FTD_ variables the submitting shell does not have)
    elsewhere = tmp_path / "elsewhere"
    client_config = tmp_path / "client.toml"
    client_config.write_text(f'[paths]\nstate_dir = "{elsewhere}"\n')
    (elsewhere / "drop" / "incoming").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTD_")}
    env["FTD_CONFIG"] = str(client_config)
    env["FTD_SOCKET"] = str(daemon.socket)
    source = tmp_path / "asked.jsonl"
    source.write_text("\n".join(good_lines(120, seed="asked ")) + "\n")
    daemon.start()
    done = run_ftd("submit", str(source), "--json", env=env)
    assert done.returncode == 0, done.stderr
    published = Path(str(_json(done)["path"]))
    assert published.parent == daemon.incoming
    daemon.wait_dataset("asked.jsonl", "submitted", timeout=60)
    assert list((elsewhere / "drop" / "incoming").iterdir()) == []
    # with no daemon answering, the configuration decides, as before
    assert daemon.stop() == 0
    fallback = run_ftd("submit", str(source), "--json", env=env)
    assert fallback.returncode == 0, fallback.stderr
    assert Path(str(_json(fallback)["path"])).parent == elsewhere / "drop" / "incoming"


def test_a_submitted_file_is_taken_without_the_stability_wait(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    emulator = start_emulator()
    # ten minutes of stability: only a ticket can get a file taken within this test
    daemon = make_daemon(emulator, intake={"stable_seconds": 600.0, "rescan_seconds": 1.0})
    daemon.start()
    # written in place, then a ticket forged for it, then written on: waits like any other
    forged = daemon.incoming / "in-place.jsonl"
    forged.write_text("\n".join(good_lines(60, seed="in place ")) + "\n")
    info = forged.stat()
    (daemon.drop / "staging" / ticket_name(info.st_ino)).write_bytes(ticket_body(forged.name, info))
    with forged.open("a") as more:
        more.write("\n".join(good_lines(60, seed="more ")) + "\n")
    source = tmp_path / "quick.jsonl"
    source.write_text("\n".join(good_lines(120, seed="quick ")) + "\n")
    done = run_ftd("submit", str(source), "--socket", str(daemon.socket))
    assert done.returncode == 0, done.stderr
    daemon.wait_for("incoming_published", timeout=60)
    daemon.wait_dataset("quick.jsonl", "submitted", timeout=60)
    assert forged.exists()  # still waiting its 600 s
    assert daemon.query("SELECT id FROM datasets WHERE name = 'in-place.jsonl'") == []
    published = daemon.events("incoming_published")
    assert [e["file"] for e in published] == ["quick.jsonl"]
    staged = [p.name for p in (daemon.drop / "staging").iterdir()]
    assert staged == [ticket_name(info.st_ino)]  # the used ticket is gone, the forged one not


def test_show_says_why(start_emulator: StartEmulator, make_daemon: MakeDaemon) -> None:
    emulator = start_emulator()
    # the base model's answers priced so that its evaluation alone passes the limit
    daemon = make_daemon(
        emulator,
        defaults={"max_cost_usd": 1.0},
        **{'prices."gpt-4.1-mini-2025-04-14"': {"input_per_mtok": 50_000.0}},
    )
    daemon.start()
    write_dataset(daemon.incoming / "small.jsonl", 30, seed="small ")
    write_dataset(daemon.incoming / "guarded.jsonl", 200, seed="guarded ")
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hello?"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello, how can I help?"}],
        "non_preferred_output": [{"role": "assistant", "content": "What."}],
    }
    (daemon.incoming / "pairs.jsonl").write_text(json.dumps(dpo) + "\n")

    daemon.wait_dataset("guarded.jsonl", "awaiting_approval", timeout=60)
    shown = daemon.ftd("show", "guarded.jsonl")
    assert shown.returncode == 0, shown.stderr
    assert "waits for approval" in shown.stdout
    why = next(line for line in shown.stdout.splitlines() if "waits for approval" in line)
    assert " training + $5.00 evaluation = $5.0" in why  # the evaluation stops at its $5 cap
    assert "over max_cost_usd $1.00" in why
    assert "ftd approve" in shown.stdout
    assert "evaluation estimate" in shown.stdout
    assert "billed tokens (training split x 3 epochs)" in shown.stdout
    warned = daemon.wait_for("approval_needed")
    assert "evaluation" in warned["reason"]

    daemon.wait_job("small.jsonl", "succeeded")
    small = daemon.ftd("show", "small.jsonl")
    assert small.returncode == 0, small.stderr
    assert (
        "evaluation         none: no test split, so no evaluation: 30 examples x test_fraction "
        "0.1 = 3.0, below min_test_examples = 10"
    ) in small.stdout

    daemon.wait_dataset("pairs.jsonl", "rejected")
    pairs = daemon.ftd("show", "pairs.jsonl")
    assert 'set method = "dpo" in a sidecar pairs.toml' in pairs.stdout, pairs.stdout
