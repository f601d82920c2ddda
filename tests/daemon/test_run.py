"""``ftd run`` end to end: real daemon and emulator processes in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import good_lines, write_dataset

SUPERVISED_DEFECTS = Path(__file__).parents[1] / "data" / "datasets" / "supervised_defects.jsonl"


def test_good_bad_and_duplicate_files(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "faq.jsonl")
    bad = SUPERVISED_DEFECTS.read_bytes()
    (daemon.incoming / "broken.jsonl").write_bytes(bad)

    job = daemon.wait_job("faq.jsonl", "succeeded")
    assert job["fine_tuned_model"].startswith("ft:gpt-4.1-mini-2025-04-14:")
    faq = daemon.dataset("faq.jsonl")
    assert (daemon.drop / "processed" / "faq.jsonl").exists()
    sides = {
        r["side"]: r["examples"]
        for r in daemon.query(
            "SELECT side, examples FROM splits WHERE dataset_id = ?", (faq["id"],)
        )
    }
    assert sides["test"] >= 1
    assert sum(sides.values()) == 120

    broken = daemon.wait_dataset("broken.jsonl", "rejected")
    report = json.loads((daemon.drop / "rejected" / "broken.errors.json").read_text())
    assert report["accepted"] is False
    lines = {s["line"] for issue in report["errors"] for s in issue["samples"]}
    assert 2 in lines  # the first defect of the corpus, named by its line
    assert (daemon.drop / "rejected" / "broken.jsonl").read_bytes() == bad
    assert broken["error"]

    # The same content again, under another name: recognised, not uploaded again.
    write_dataset(daemon.incoming / "faq-copy.jsonl")
    copy = daemon.wait_dataset("faq-copy.jsonl", "duplicate")
    assert copy["duplicate_of"] == faq["id"]
    note = json.loads((daemon.drop / "processed" / "faq-copy.duplicate.json").read_text())
    assert note["duplicate_of"] == faq["id"]
    assert note["original_name"] == "faq.jsonl"

    # Only the train and validation splits ever left the machine, once each.
    assert sorted(emulator.files(faq["tag"])) == [
        f"ftd-{faq['sha256'][:16]}-{faq['tag']}-train.jsonl",
        f"ftd-{faq['sha256'][:16]}-{faq['tag']}-validation.jsonl",
    ]
    assert emulator.requests("POST /v1/files") == 2
    assert len(emulator.jobs()) == 1
    assert list((daemon.drop / "incoming").iterdir()) == []
    assert "sk-test-e2e-secret-key" not in daemon.log_text()
    assert daemon.stop() == 0


def test_files_dropped_while_down_are_taken_at_start(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    write_dataset(daemon.incoming / "early.jsonl", seed="early ")
    (daemon.incoming / "upload.jsonl.part").write_text("half a file")
    (daemon.incoming / ".hidden.jsonl").write_text("{}\n")
    daemon.start()
    daemon.wait_job("early.jsonl", "succeeded")
    left = sorted(p.name for p in daemon.incoming.iterdir())
    assert left == [".hidden.jsonl", "upload.jsonl.part"]  # temporary names are never taken
    ignored = {e["file"] for e in daemon.events("incoming_ignored")}
    assert "upload.jsonl.part" in ignored
    assert daemon.stop() == 0


def test_a_file_written_slowly_is_taken_once_whole(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator, intake={"stable_seconds": 1.0})
    daemon.start()
    data = ("\n".join(good_lines(120, seed="slow ")) + "\n").encode()
    target = daemon.incoming / "slow.jsonl"
    step = len(data) // 25 + 1
    with target.open("wb") as handle:  # written in place, in small pieces
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(0.12)
    daemon.wait_job("slow.jsonl", "succeeded")
    rows = daemon.query("SELECT size_bytes, state FROM datasets")
    assert [(r["size_bytes"], r["state"]) for r in rows] == [(len(data), "submitted")]
    assert (daemon.drop / "processed" / "slow.jsonl").read_bytes() == data
    assert daemon.stop() == 0


def test_sigkill_during_upload_leaves_one_file_and_one_job(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    emulator.configure(answer_delay_ms=3000)  # uploads take effect; answers come late
    write_dataset(daemon.incoming / "kill.jsonl")
    daemon.wait_for("upload_started", lambda e: e["side"] == "train")
    time.sleep(1.0)
    daemon.kill()
    ds = daemon.dataset("kill.jsonl")
    assert ds["state"] == "uploading"
    assert len(emulator.files(ds["tag"])) == 1  # the provider has it; ftd never heard back
    assert (
        daemon.query("SELECT file_id FROM uploads WHERE dataset_id = ?", (ds["id"],))[0][0] is None
    )

    emulator.configure(answer_delay_ms=0)
    daemon.start()
    daemon.wait_job("kill.jsonl", "succeeded")
    assert daemon.events("upload_found")  # found by name, not sent again
    assert sorted(emulator.files(ds["tag"])) == [
        f"ftd-{ds['sha256'][:16]}-{ds['tag']}-train.jsonl",
        f"ftd-{ds['sha256'][:16]}-{ds['tag']}-validation.jsonl",
    ]
    assert emulator.requests("POST /v1/files") == 2
    assert len(emulator.jobs(ds)) == 1
    assert daemon.stop() == 0


def test_sigkill_during_job_creation_leaves_one_job(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    emulator.configure(answer_delay_ms=1500)
    write_dataset(daemon.incoming / "kill.jsonl")
    daemon.wait_for("job_create_sent", timeout=60)
    time.sleep(0.7)
    daemon.kill()
    ds = daemon.dataset("kill.jsonl")
    assert ds["state"] == "creating_job"
    assert len(emulator.jobs(ds)) == 1  # created at the provider, unknown to ftd
    assert daemon.query("SELECT count(*) FROM jobs")[0][0] == 0

    emulator.configure(answer_delay_ms=0)
    daemon.start()
    job = daemon.wait_job("kill.jsonl", "succeeded")
    found = daemon.wait_for("job_found")
    assert found["job_id"] == job["job_id"]
    assert [j.id for j in emulator.jobs(ds)] == [job["job_id"]]
    assert emulator.requests("POST /v1/fine_tuning/jobs") == 1
    assert emulator.requests("POST /v1/files") == 2
    assert daemon.stop() == 0


def test_sigterm_exits_cleanly_and_the_next_start_resumes(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "calm.jsonl")
    daemon.wait_for("validation_started")
    started = time.monotonic()
    assert daemon.stop() == 0
    # It does not wait for the validation to end (bench/stop_time.py measures how soon
    # it stops; this bound only catches a stop that hangs, on a loaded machine too).
    assert time.monotonic() - started < 30
    assert daemon.events("daemon_stopped")
    assert daemon.dataset("calm.jsonl")["state"] == "validating"

    daemon.start()
    assert daemon.wait_for("dataset_state", lambda e: e.get("resumed") is True)
    daemon.wait_job("calm.jsonl", "succeeded")
    assert daemon.stop() == 0


def test_training_not_available_blocks_without_retrying(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator("--training-not-available")
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "refused.jsonl")
    blocked = daemon.wait_dataset("refused.jsonl", "blocked")
    assert "training_not_available" in blocked["error"]
    # The rest of ftd goes on: the next file is still validated and judged.
    (daemon.incoming / "broken.jsonl").write_bytes(SUPERVISED_DEFECTS.read_bytes())
    daemon.wait_dataset("broken.jsonl", "rejected")
    time.sleep(1.0)
    assert emulator.requests("POST /v1/fine_tuning/jobs") == 1  # asked once, not in a loop
    assert daemon.dataset("refused.jsonl")["state"] == "blocked"
    assert daemon.stop() == 0


def test_concurrent_job_cap_waits_then_goes_on(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator("--max-active-jobs", "1", "--speed", "2")
    daemon = make_daemon(emulator)
    daemon.start()
    write_dataset(daemon.incoming / "first.jsonl", seed="first ")
    daemon.wait_dataset("first.jsonl", "submitted")
    write_dataset(daemon.incoming / "second.jsonl", seed="second ")
    postponed = daemon.wait_for("dataset_postponed")
    assert "429" in postponed["error"]
    daemon.wait_job("first.jsonl", "succeeded")
    daemon.wait_job("second.jsonl", "succeeded")
    for name in ("first.jsonl", "second.jsonl"):
        assert len(emulator.jobs(daemon.dataset(name))) == 1
    assert daemon.stop() == 0


def test_spend_guard_holds_a_dataset_until_approved(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator, defaults={"max_cost_usd": 0.0001})
    daemon.start()
    write_dataset(daemon.incoming / "dear.jsonl")
    held = daemon.wait_dataset("dear.jsonl", "awaiting_approval")
    assert held["estimated_cost_usd"] > 0.0001
    hint = daemon.wait_for("approval_needed")
    marker = daemon.drop / "processed" / "dear.jsonl.approve"
    assert hint["approve_by"] == f"ftd approve {held['id']}, or touch {marker}"
    time.sleep(1.0)
    assert emulator.requests("POST /v1/files") == 0
    marker.touch()
    daemon.wait_job("dear.jsonl", "succeeded")
    assert marker.exists()
    assert daemon.stop() == 0


def test_sidecar_overrides_the_run_and_a_bad_one_rejects(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    (daemon.incoming / "tuned.toml").write_text(
        'suffix = "faq-bot"\nmetadata = { team = "support" }\n[hyperparameters]\nn_epochs = 2\n'
    )
    write_dataset(daemon.incoming / "tuned.jsonl")
    (daemon.incoming / "typo.toml").write_text('modle = "gpt-4.1-mini"\n')
    write_dataset(daemon.incoming / "typo.jsonl", seed="typo ")

    job_row = daemon.wait_job("tuned.jsonl", "succeeded")
    job = emulator.client.fine_tuning.jobs.retrieve(job_row["job_id"])
    assert job.metadata is not None
    assert job.metadata["team"] == "support"
    assert job.method is not None
    assert job.method.supervised is not None
    hyperparameters = job.method.supervised.hyperparameters
    assert hyperparameters is not None
    assert hyperparameters.n_epochs == 2
    assert job.fine_tuned_model is not None
    assert ":faq-bot:" in job.fine_tuned_model
    assert (daemon.drop / "processed" / "tuned.toml").exists()

    daemon.wait_dataset("typo.jsonl", "rejected")
    report = json.loads((daemon.drop / "rejected" / "typo.errors.json").read_text())
    message = report["errors"][0]["samples"][0]["message"]
    assert report["errors"][0]["kind"] == "bad_sidecar"
    assert "modle" in message
    assert (daemon.drop / "rejected" / "typo.toml").exists()
    assert daemon.stop() == 0


def test_bad_config_exits_78_and_a_second_daemon_75(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[intake]\nstable_seconds = -1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTD_")}
    env["OPENAI_API_KEY"] = "k"
    done = subprocess.run(
        [sys.executable, "-m", "ftd", "run", "-c", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78
    assert "intake.stable_seconds" in done.stderr

    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    second = subprocess.run(
        [sys.executable, "-m", "ftd", "run", "-c", str(daemon.config_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert second.returncode == 75
    assert f"pid {daemon.pid}" in second.stderr
    assert daemon.stop() == 0


def test_sidecar_files_and_a_changed_file_under_an_old_name(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    (daemon.incoming / "faq-val.jsonl").write_text("\n".join(good_lines(15, seed="v ")) + "\n")
    (daemon.incoming / "faq.toml").write_text('validation_file = "faq-val.jsonl"\n')
    write_dataset(daemon.incoming / "faq.jsonl")
    job_row = daemon.wait_job("faq.jsonl", "succeeded")
    ds = daemon.dataset("faq.jsonl")
    splits = {
        r["side"]: r["examples"]
        for r in daemon.query("SELECT * FROM splits WHERE dataset_id = ?", (ds["id"],))
    }
    assert splits["validation"] == 15  # the named file, not a share of faq.jsonl
    assert splits["train"] + splits["test"] == 120
    job = emulator.client.fine_tuning.jobs.retrieve(job_row["job_id"])
    assert job.validation_file is not None
    names = {f.id: f.filename for f in emulator.client.files.list()}
    assert names[job.validation_file].endswith("-validation.jsonl")
    processed = sorted(p.name for p in (daemon.drop / "processed").iterdir())
    assert processed == ["faq-val.jsonl", "faq.jsonl", "faq.toml"]
    assert list(daemon.incoming.iterdir()) == []

    # New content under the same name is a new dataset; the old file stays.
    write_dataset(daemon.incoming / "faq.jsonl", count=130)
    rows = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = daemon.query("SELECT state FROM datasets WHERE name = 'faq.jsonl' ORDER BY id")
        if len(rows) == 2 and rows[1]["state"] == "submitted":
            break
        time.sleep(0.1)
    assert [r["state"] for r in rows] == ["submitted", "submitted"]
    assert (daemon.drop / "processed" / "faq-2.jsonl").exists()
    assert len(emulator.jobs()) == 2
    assert daemon.stop() == 0
    # The key is in no file ftd wrote: database, reports, logs.
    for path in [*daemon.state_dir.rglob("*"), *daemon.drop.rglob("*"), daemon.log_path]:
        if path.is_file():
            assert b"sk-test-e2e-secret-key" not in path.read_bytes(), path


def test_a_copy_dropped_with_its_original_waits_for_the_originals_verdict(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    """Dropped together: the first with a validation file of broken lines (found out only
    by validation), the same lines again without it. The first is rejected, so the second
    is no copy of anything: it is validated and trained on its own."""
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    (daemon.incoming / "first-validation.jsonl").write_text("{not json\n" * 20)
    (daemon.incoming / "first.toml").write_text('validation_file = "first-validation.jsonl"\n')
    write_dataset(daemon.incoming / "first.jsonl")
    (daemon.incoming / "second.toml").write_text('suffix = "second"\n')
    write_dataset(daemon.incoming / "second.jsonl")
    daemon.start()
    first = daemon.wait_dataset("first.jsonl", "rejected")
    second = daemon.wait_dataset("second.jsonl", "submitted")
    assert first["sha256"] == second["sha256"]
    assert second["duplicate_of"] is None
    daemon.wait_job("second.jsonl", "succeeded")
    assert daemon.stop() == 0


def test_wandb_integrations_reach_the_job_and_a_key_in_a_sidecar_is_refused(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    with daemon.config_path.open("a") as config:
        config.write(
            '\n[[defaults.integrations]]\ntype = "wandb"\n'
            '[defaults.integrations.wandb]\nproject = "from-config"\n'
        )
    daemon.start()
    (daemon.incoming / "tracked.toml").write_text(
        '[[integrations]]\ntype = "wandb"\n'
        '[integrations.wandb]\nproject = "support-bot"\nname = "run-7"\n'
        'entity = "acme"\ntags = ["faq", "v2"]\n'
    )
    write_dataset(daemon.incoming / "tracked.jsonl")
    write_dataset(daemon.incoming / "plain.jsonl", seed="plain ")
    (daemon.incoming / "keyed.toml").write_text(
        '[[integrations]]\ntype = "wandb"\n'
        '[integrations.wandb]\nproject = "p"\napi_key = "wandb-secret-123"\n'
    )
    write_dataset(daemon.incoming / "keyed.jsonl", seed="keyed ")

    tracked = emulator.client.fine_tuning.jobs.retrieve(
        daemon.wait_job("tracked.jsonl", "succeeded")["job_id"]
    )
    [integration] = tracked.integrations or []
    assert integration.type == "wandb"
    assert integration.wandb.project == "support-bot"
    assert integration.wandb.name == "run-7"
    assert integration.wandb.entity == "acme"
    assert integration.wandb.tags == ["faq", "v2"]
    plain = emulator.client.fine_tuning.jobs.retrieve(
        daemon.wait_job("plain.jsonl", "succeeded")["job_id"]
    )
    assert [i.wandb.project for i in plain.integrations or []] == ["from-config"]

    daemon.wait_dataset("keyed.jsonl", "rejected")
    report = json.loads((daemon.drop / "rejected" / "keyed.errors.json").read_text())
    message = report["errors"][0]["samples"][0]["message"]
    assert "W&B key does not go in a configuration or sidecar" in message
    assert "wandb-secret-123" not in daemon.log_text()
    assert "wandb-secret-123" not in json.dumps(report)


def test_a_daemon_without_its_tokenizer_refuses_to_start(
    start_emulator: StartEmulator, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    # Started, it would look healthy while every dataset sat in `detected`.
    empty = tmp_path / "no-tokenizer"
    empty.mkdir()
    daemon = make_daemon(start_emulator())
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTD_")}
    env.update(
        OPENAI_API_KEY="k",
        TIKTOKEN_CACHE_DIR=str(empty),
        # No download either: any fetch of the rank files meets a closed port.
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    done = subprocess.run(
        [sys.executable, "-m", "ftd", "run", "-c", str(daemon.config_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 78, done.stderr  # EX_CONFIG: systemd does not restart on it
    assert "TIKTOKEN_CACHE_DIR" in done.stderr
    assert "tokenizer" in done.stderr
    assert "Traceback" not in done.stderr
    assert not daemon.socket.exists()


def test_a_sidecar_asking_rft_of_a_retired_model_is_rejected_with_the_reason(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon(start_emulator())
    daemon.start()
    (daemon.incoming / "rft.toml").write_text(
        'model = "o4-mini"\nmethod = "reinforcement"\n'
        "[reinforcement.grader]\n"
        'type = "string_check"\nname = "exact"\ninput = "{{sample.output_text}}"\n'
        'reference = "{{item.answer}}"\noperation = "eq"\n'
    )
    write_dataset(daemon.incoming / "rft.jsonl")
    daemon.wait_dataset("rft.jsonl", "rejected")
    report = json.loads((daemon.drop / "rejected" / "rft.errors.json").read_text())
    message = report["errors"][0]["samples"][0]["message"]
    assert report["errors"][0]["kind"] == "bad_sidecar"
    assert "retired reinforcement fine-tuning of o4-mini-2025-04-16 on 2026-10-23" in message
    assert not daemon.query("SELECT 1 FROM jobs")  # nothing was sent to the provider
    assert daemon.stop() == 0
