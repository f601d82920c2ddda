"""Recorded answers end to end: a retiring model recorded on its own, retired, and succeeded.

One daemon with two provider profiles (two emulators) serves the whole story,
in order: the base of the first job's model stops serving in 10 days (a date
given in the configuration), so `ftd status` warns while the model is not
recorded yet and, once `evaluation.record_days_before` covers the date, the
daemon records it, every test item asked once. The emulator then retires the
model (404 model_not_found), and a successor trained at the second profile
is judged against the recording. A second daemon is SIGKILLed while it
records and resumes without asking any item twice.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator, run_ftd, wait_until, write_dataset

BASE = "gpt-4.1-mini-2025-04-14"


def _shutdown_in(days: int) -> str:
    return (datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=days)).isoformat()


def _bodies(emulator: Emulator) -> Counter[str]:
    return Counter(emulator._control("/_emulator/stats?chat_bodies=1")["chat_bodies"])


def _recording(daemon: Daemon, name: str, status: str, timeout: float = 120.0) -> Any:
    return wait_until(
        f"recording {name} {status}",
        lambda: next(
            iter(
                daemon.query(
                    "SELECT * FROM recordings WHERE name = ? AND status = ?", (name, status)
                )
            ),
            None,
        ),
        timeout=timeout,
    )


class Story:
    def __init__(self, root: Path) -> None:
        self.processes = [
            EmulatorProcess("--speed", "20", log_path=root / f"emulator-{i}.log") for i in (0, 1)
        ]
        for process in self.processes:
            process.start()
        self.first, self.second = (Emulator(p.base_url) for p in self.processes)
        self.sections: dict[str, dict[str, Any]] = {
            "providers.second": {"kind": "compatible", "max_retries": 2, "timeout_seconds": 20.0},
            "providers.second.compatible": {"base_url": self.second.base_url},
            "evaluation": {
                "enabled": False,
                "record_days_before": 5,
                "shutdown_dates": {json.dumps(BASE): _shutdown_in(10)},  # a quoted TOML key
            },
        }
        self.daemon = Daemon(root / "ftd", self.first.base_url, self.sections)

    def close(self) -> None:
        self.daemon.close()
        self.first.client.close()
        self.second.client.close()
        for process in self.processes:
            process.stop()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    made = Story(tmp_path_factory.mktemp("recordings"))
    try:
        yield made
    finally:
        made.close()


@pytest.mark.timeout(400)
def test_a_retiring_model_is_recorded_retired_and_its_successor_judged_against_it(
    story: Story,
) -> None:
    daemon, first, second = story.daemon, story.first, story.second
    daemon.start()
    write_dataset(daemon.incoming / "retiring.jsonl", 120, seed="help desk ")
    job = daemon.wait_job("retiring.jsonl", "succeeded", timeout=180)
    model = job["fine_tuned_model"]
    tests = daemon.query(
        "SELECT examples FROM splits WHERE dataset_id = ? AND side = 'test'", (job["dataset_id"],)
    )[0]["examples"]

    # Ten days left, five days' notice configured: a warning, no recording yet.
    status = wait_until(
        "warning",
        lambda: [
            w
            for w in json.loads(daemon.ftd("status", "--json").stdout)["warnings"]
            if w["kind"] == "model_retiring_unrecorded"
        ],
    )
    assert model in status[0]["message"]
    assert "10 days" in status[0]["message"]
    assert not daemon.query("SELECT * FROM recordings")

    # Fourteen days' notice: the daemon records the model on its own, each item once.
    story.sections["evaluation"]["record_days_before"] = 14
    daemon.config_path.write_text(
        daemon.config_path.read_text().replace("record_days_before = 5", "record_days_before = 14")
    )
    assert daemon.ftd("reload").returncode == 0
    row = _recording(daemon, model, "succeeded")
    assert (row["origin"], row["model"], row["shutdown_date"]) == (
        "retirement",
        model,
        _shutdown_in(10),
    )
    assert row["total_items"] == tests
    answers = daemon.query("SELECT * FROM recorded_answers WHERE recording_id = ?", (row["id"],))
    assert [a["state"] for a in answers] == ["answered"] * tests
    assert all(a["response"] for a in answers)
    assert max(_bodies(first).values()) == 1
    listed = daemon.ftd("recordings")
    assert listed.returncode == 0, listed.stderr
    assert model in listed.stdout
    assert f"{tests}/{tests}" in listed.stdout
    warnings = json.loads(daemon.ftd("status", "--json").stdout)["warnings"]
    assert not [w for w in warnings if w["kind"] == "model_retiring_unrecorded"]

    # The export is the answered items as supervised examples ending with the answer.
    exported = daemon.root / "recorded.jsonl"
    done = daemon.ftd("recordings", "export", model, str(exported))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(lines) == tests
    by_item = {a["item"]: a for a in answers}
    for line in lines:
        assert line["messages"][-1] == {
            "role": "assistant",
            "content": by_item[line["recording"]["item"]]["response"],
        }
    again = daemon.ftd("recordings", "export", model, str(exported))
    assert again.returncode != 0  # an existing file is never overwritten

    # Shutdown day: the provider answers 404 model_not_found from then on.
    first._control("/_emulator/retire", {"model": model})
    asked = daemon.ftd("ask", model, "hello")
    assert asked.returncode != 0
    assert "does not exist" in asked.stderr

    # The successor, trained at the second profile, is judged against the recording.
    (daemon.incoming / "successor.toml").write_text('provider = "second"\n')
    write_dataset(daemon.incoming / "successor.jsonl", 120, seed="help desk  ")
    successor = daemon.wait_job("successor.jsonl", "succeeded", timeout=180)
    assert successor["provider"] == "second"
    assert [j.id for j in second.jobs()] == [successor["job_id"]]
    chats_before = sum(_bodies(first).values())
    queued = daemon.ftd(
        "eval",
        successor["fine_tuned_model"],
        "--against-recording",
        model,
        "--grader",
        "f1",
        "--grader",
        "pairwise",
    )
    assert queued.returncode == 0, queued.stderr
    evaluation = wait_until(
        "finished evaluation",
        lambda: next(
            iter(
                daemon.query(
                    "SELECT * FROM evaluations WHERE recording_id = ? AND status = 'succeeded'",
                    (row["id"],),
                )
            ),
            None,
        ),
    )
    assert evaluation["verdict"] in {"better", "worse", "no_detectable_difference", "too_few_items"}
    summary = json.loads(evaluation["summary"])
    assert summary["sides"]["candidate"] == {
        "model": successor["fine_tuned_model"],
        "source": "live",
    }
    base = summary["sides"]["base"]
    assert (base["source"], base["recording"], base["model"]) == ("recorded", model, model)
    assert base["recorded_at"]
    items = daemon.query(
        "SELECT role, cached, error, response FROM evaluation_items WHERE evaluation_id = ?",
        (evaluation["id"],),
    )
    recorded_side = [i for i in items if i["role"] == "base"]
    assert len(recorded_side) == tests
    assert {i["response"] for i in recorded_side} == {a["response"] for a in answers}
    assert not [i for i in items if i["error"]]
    # Nothing was asked of the retired model, nor of its provider: its side came from
    # the recording, and the successor and the judge were asked where the successor lives.
    assert sum(_bodies(first).values()) == chats_before
    assert sum(_bodies(second).values()) >= 3 * tests  # the successor, then both orders
    shown = daemon.ftd("show", f"eval-{evaluation['id']}")
    assert shown.returncode == 0, shown.stderr
    assert f"read from recording {model} (recorded " in shown.stdout
    page = daemon.root / "successor.html"
    drawn = daemon.ftd("report", f"eval-{evaluation['id']}", "-o", str(page))
    assert drawn.returncode == 0, drawn.stderr
    assert f"read from recording {model}, recorded {base['recorded_at']}" in page.read_text()
    _exported(daemon, successor, evaluation["id"], row["id"], tests)
    assert daemon.stop() == 0


def _exported(daemon: Daemon, job: Any, evaluation_id: int, recording_id: int, tests: int) -> None:
    """`ftd export JOB DIR`: every part of the folder holds what the database does."""
    folder = daemon.root / "export"
    done = daemon.ftd("export", job["job_id"], str(folder))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    for listed in manifest["files"]:
        assert (folder / listed["path"]).stat().st_size == listed["bytes"]
    assert manifest["jobs"] == [job["job_id"]]
    splits = daemon.query(
        "SELECT side, path FROM splits WHERE dataset_id = ?", (job["dataset_id"],)
    )
    assert {s["side"] for s in splits} == {"train", "validation", "test"}
    for split in splits:
        exported = (folder / "splits" / f"{split['side']}.jsonl").read_bytes()
        assert exported == Path(split["path"]).read_bytes()
    assert json.loads((folder / "settings.json").read_text())["provider"] == "second"
    where = folder / "jobs" / job["job_id"]
    assert (
        json.loads((where / "job.json").read_text())["fine_tuned_model"] == job["fine_tuned_model"]
    )
    events = (where / "events.jsonl").read_text().splitlines()
    stored = daemon.query("SELECT count(*) AS n FROM job_events WHERE job_id = ?", (job["job_id"],))
    assert len(events) == stored[0]["n"] > 0
    metrics = (where / "metrics.csv").read_text().splitlines()
    steps = daemon.query("SELECT count(*) AS n FROM job_metrics WHERE job_id = ?", (job["job_id"],))
    assert metrics[0].startswith("step,train_loss")
    assert len(metrics) - 1 == steps[0]["n"] > 0
    checkpoints = json.loads((where / "checkpoints.json").read_text())
    assert len(checkpoints) == len(
        daemon.query("SELECT * FROM job_checkpoints WHERE job_id = ?", (job["job_id"],))
    )
    judged = folder / "evaluations" / f"eval-{evaluation_id}"
    assert len((judged / "items.jsonl").read_text().splitlines()) == 2 * tests
    summary = json.loads((judged / "summary.json").read_text())
    assert summary["summary"]["sides"]["base"]["source"] == "recorded"
    kept = [p for p in (folder / "recordings").iterdir() if p.name.endswith(f"-{recording_id}")]
    assert len(kept) == 1
    assert len((kept[0] / "answers.jsonl").read_text().splitlines()) == tests
    assert "<html" in (folder / "report.html").read_text()
    again = daemon.ftd("export", job["job_id"], str(folder))
    assert again.returncode != 0
    assert "not empty" in again.stderr


def test_sigkill_while_recording_resumes_without_asking_any_item_twice(
    tmp_path: Path,
) -> None:
    process = EmulatorProcess("--speed", "20", log_path=tmp_path / "emulator.log")
    process.start()
    try:
        emulator = Emulator(process.base_url)
        daemon = Daemon(
            tmp_path / "ftd",
            emulator.base_url,
            {"evaluation": {"enabled": False, "concurrency": 2}},
        )
        items = tmp_path / "items.jsonl"
        write_dataset(items, 16, seed="recorded ")
        daemon.start()
        emulator.configure(latency_ms=400)  # answers slow enough to die with some in flight
        queued = daemon.ftd("record", "gpt-4o-mini", "--file", str(items), "--name", "before")
        assert queued.returncode == 0, queued.stderr
        assert "16 items" in queued.stdout

        def states() -> Counter[str]:
            return Counter(r["state"] for r in daemon.query("SELECT state FROM recorded_answers"))

        wait_until("items under way", lambda: states()["answered"] >= 2 and states()["asking"] >= 1)
        daemon.kill()
        daemon.start()
        row = _recording(daemon, "before", "succeeded")
        final = states()
        assert final["answered"] + final["lost"] == 16
        assert final["lost"] <= 2  # at most the items in flight when it died
        sent = _bodies(emulator)
        assert sum(sent.values()) <= 16
        assert max(sent.values()) == 1  # no item was asked twice
        assert sum(sent.values()) >= final["answered"]
        assert row["requests"] == final["answered"]
        resumed = daemon.events("recording_resumed")
        assert resumed
        assert resumed[0]["lost"] == final["lost"]
        assert daemon.stop() == 0
        daemon.close()
    finally:
        process.stop()


def test_eval_needs_a_test_file_or_a_recording(tmp_path: Path) -> None:
    missing = run_ftd("eval", "ft:model", "--socket", str(tmp_path / "none.sock"))
    assert missing.returncode == 2
    assert "--test-file" in missing.stderr
