"""Runs end to end: one dataset trained again with other settings, a sweep, a run by hand
at a second provider, a cancelled run retried, and two runs compared.

One daemon over two emulators (the second a provider profile of its own)
serves the whole module; each test drops content of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator, wait_until
from tests.emulator.helpers import chat_example, support_examples

# Evaluation runs only for the comparison; the other tests turn it off in their sidecars.
EVALUATION: dict[str, Any] = {"judge_repeat_sample": 0, "resamples": 1000}
QUIET = "[evaluation]\nenabled = false\n"


class Setup:
    def __init__(self, daemon: Daemon, first: Emulator, second: Emulator) -> None:
        self.daemon, self.first, self.second = daemon, first, second


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("runs")
    processes = [
        EmulatorProcess("--speed", "20", log_path=root / f"emulator-{n}.log") for n in (0, 1)
    ]
    for process in processes:
        process.start()
    first, second = (Emulator(p.base_url) for p in processes)
    daemon = Daemon(
        root / "ftd",
        first.base_url,
        {
            "providers.second": {"kind": "compatible", "max_retries": 2, "timeout_seconds": 20.0},
            "providers.second.compatible": {"base_url": second.base_url},
            "evaluation": EVALUATION,
        },
    )
    daemon.start()
    try:
        yield Setup(daemon, first, second)
        assert daemon.stop() == 0
    finally:
        daemon.close()
        for process in processes:
            process.stop()


def drop(
    daemon: Daemon, name: str, seed: str, sidecar: str | None = None, count: int = 120
) -> bytes:
    """Support answers (a model learns them) under ``seed``; the sidecar goes in first."""
    if sidecar is not None:
        (daemon.incoming / Path(name).with_suffix(".toml")).write_text(sidecar)
    records = [chat_example(f"{seed} {q}", a) for q, a in support_examples(count)]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    temporary = daemon.incoming / f".{name}.part"
    temporary.write_bytes(data)
    os.replace(temporary, daemon.incoming / name)
    return data


def rows_of(daemon: Daemon, sha256: str) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in daemon.query("SELECT * FROM datasets WHERE sha256 = ? ORDER BY id", (sha256,))
    ]


def job_of(daemon: Daemon, run_id: int, status: str, timeout: float = 180.0) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        rows = daemon.query("SELECT * FROM jobs WHERE dataset_id = ?", (run_id,))
        return dict(rows[0]) if rows and rows[0]["status"] == status else None

    return dict(wait_until(f"run-{run_id}'s job {status}", found, timeout=timeout))


def evaluation_of(daemon: Daemon, run_id: int) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        rows = daemon.query(
            "SELECT * FROM evaluations WHERE dataset_id = ? AND kind = 'job'", (run_id,)
        )
        done = rows and rows[0]["status"] in ("succeeded", "stopped", "failed")
        return dict(rows[0]) if done else None

    return dict(wait_until(f"run-{run_id}'s evaluation", found, timeout=240))


def tag_of(row: dict[str, Any]) -> str:
    return f"{row['sha256'][:16]}-{row['tag']}"


def splits(daemon: Daemon, run_id: int) -> dict[str, tuple[str, str, int]]:
    rows = daemon.query("SELECT * FROM splits WHERE dataset_id = ?", (run_id,))
    return {r["side"]: (r["path"], r["sha256"], r["examples"]) for r in rows}


def ftd_json(daemon: Daemon, *args: str) -> Any:
    done = daemon.ftd(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_new_settings_make_a_second_run_on_the_same_split_and_compare_pairs_them(
    setup: Setup, tmp_path: Path
) -> None:
    daemon = setup.daemon
    evaluated = "[evaluation]\nenabled = true\n"
    # Enough test items for a verdict (at least 10 pairs).
    drop(daemon, "faq.jsonl", "faq", evaluated, count=160)
    first = daemon.wait_dataset("faq.jsonl", "submitted", timeout=60)
    drop(daemon, "faq-again.jsonl", "faq", evaluated + "[hyperparameters]\nn_epochs = 2\n", 160)
    drop(daemon, "faq-copy.jsonl", "faq", evaluated, count=160)
    second = daemon.wait_dataset("faq-again.jsonl", "submitted", timeout=60)
    copy = daemon.wait_dataset("faq-copy.jsonl", "duplicate", timeout=60)

    assert second["run_of"] == first["id"]
    assert second["tag"] != first["tag"]
    assert copy["duplicate_of"] == first["id"]  # same content, same settings: no new run
    assert splits(daemon, second["id"]) == splits(daemon, first["id"])
    assert json.loads(second["settings"])["hyperparameters"]["n_epochs"] == 2
    jobs = [job_of(daemon, row["id"], "succeeded") for row in (first, second)]
    # Each run's job and files carry its own tag: found again by it, never mixed up.
    for row, job in zip((first, second), jobs, strict=True):
        assert json.loads(job["metadata"])["ftd_tag"] == tag_of(dict(row))
        assert setup.first.files(tag_of(dict(row)))
    assert len(setup.first.jobs(first)) == len(setup.first.jobs(second)) == 1

    evaluations = [evaluation_of(daemon, row["id"]) for row in (first, second)]
    assert [e["status"] for e in evaluations] == ["succeeded", "succeeded"], evaluations
    page = tmp_path / "compare.html"
    answer = ftd_json(
        daemon, "compare", f"run-{first['id']}", f"run-{second['id']}", "--html", str(page)
    )
    assert [r["run"] for r in answer["runs"]] == [f"run-{first['id']}", f"run-{second['id']}"]
    assert answer["runs"][1]["differs"] == {
        "hyperparameters.n_epochs": {"first": "auto", "this": 2}
    }
    assert all(r["curve"] for r in answer["runs"])
    [pair] = answer["pairs"]
    test_items = splits(daemon, first["id"])["test"][2]
    assert pair["items"] == test_items
    decided = {name: g for name, g in pair["graders"].items() if g["verdict"] is not None}
    assert decided, pair
    for g in decided.values():
        assert g["test"] in ("mcnemar", "permutation")
        assert g["verdict"] in ("better", "worse", "no_detectable_difference", "too_few_items")
    html = page.read_text()
    assert "Paired verdicts" in html
    assert f"run-{second['id']}" in html
    printed = daemon.ftd("compare", str(first["id"]), str(second["id"]))
    assert printed.returncode == 0, printed.stderr
    assert f"run-{first['id']} vs run-{second['id']} on {test_items} shared items" in printed.stdout
    shown = daemon.ftd("show", f"run-{second['id']}")
    assert shown.returncode == 0, shown.stderr
    assert f"run-{second['id']} of dataset {first['id']}" in shown.stdout
    assert f"run-{first['id']}: " in shown.stdout  # the dataset's other run, listed
    [counted] = daemon.query("SELECT count(DISTINCT dataset_id), count(*) FROM runs")
    status = daemon.ftd("status")
    assert f"runs         {counted[1]} runs of {counted[0]} datasets" in status.stdout
    twice = daemon.ftd("compare", f"run-{first['id']}", str(first["id"]))
    assert twice.returncode != 0
    assert "twice" in twice.stderr


def test_a_sweep_sidecar_makes_three_runs_of_one_dataset(setup: Setup) -> None:
    daemon = setup.daemon
    sweep = QUIET + "".join(f"[[runs]]\nhyperparameters.n_epochs = {n}\n" for n in (1, 2, 3))
    data = drop(daemon, "sweep.jsonl", "sweep", sweep)
    sha = hashlib.sha256(data).hexdigest()
    rows = wait_until(
        "three submitted runs",
        lambda: (
            (found := rows_of(daemon, sha))
            and len(found) == 3
            and all(r["state"] == "submitted" for r in found)
            and found
        ),
        timeout=90,
    )
    first = rows[0]
    assert [r["run_of"] for r in rows] == [None, first["id"], first["id"]]
    assert [json.loads(r["settings"])["hyperparameters"]["n_epochs"] for r in rows] == [1, 2, 3]
    assert len({r["tag"] for r in rows}) == 3
    for row in rows[1:]:
        assert splits(daemon, row["id"]) == splits(daemon, first["id"])
    jobs = [job_of(daemon, r["id"], "succeeded") for r in rows]
    assert len({j["job_id"] for j in jobs}) == 3
    # The spend guard priced each run: more epochs, a higher estimate.
    costs = [r["estimated_cost_usd"] for r in rows]
    assert costs[0] < costs[1] < costs[2]

    # The same content with a sweep that repeats a run: only the new ones are made, each
    # held or let through by the spend guard on its own.
    more_runs = (
        "[[runs]]\nhyperparameters.n_epochs = 3\n"
        "[[runs]]\nhyperparameters.n_epochs = 4\n"
        "[[runs]]\nhyperparameters.n_epochs = 5\nmax_cost_usd = 0.0001\n"
    )
    drop(daemon, "sweep-more.jsonl", "sweep", QUIET + more_runs)
    more, held = wait_until(
        "two more runs",
        lambda: (
            (found := rows_of(daemon, sha)[3:])
            and len(found) == 2
            and found[0]["state"] == "submitted"
            and found
        ),
        timeout=60,
    )
    assert len(rows_of(daemon, sha)) == 5  # the repeated run (3 epochs) is not made again
    assert [json.loads(r["settings"])["hyperparameters"]["n_epochs"] for r in (more, held)] == [
        4,
        5,
    ]
    assert (more["run_of"], more["name"]) == (first["id"], "sweep-more.jsonl")
    assert (held["run_of"], held["state"]) == (first["id"], "awaiting_approval")
    assert any(
        e.get("approve_by") == f"ftd approve run-{held['id']}"
        for e in daemon.events("approval_needed")
    )
    approved = daemon.ftd("approve", f"run-{held['id']}")
    assert approved.returncode == 0, approved.stderr
    for row in (more, held):
        job_of(daemon, row["id"], "succeeded")


def test_train_starts_a_run_at_a_second_provider_profile(setup: Setup) -> None:
    daemon = setup.daemon
    drop(daemon, "moving.jsonl", "moving", QUIET)
    first = daemon.wait_dataset("moving.jsonl", "submitted", timeout=60)

    refused = daemon.ftd("train", str(first["id"]), "--set", "colour=red")
    assert refused.returncode != 0
    assert "colour" in refused.stderr
    bad_value = daemon.ftd("train", str(first["id"]), "--set", "hyperparameters.n_epochs=0")
    assert bad_value.returncode != 0
    assert "n_epochs" in bad_value.stderr
    same = daemon.ftd("train", str(first["id"]))
    assert same.returncode != 0
    assert f"run-{first['id']}" in same.stderr

    answer = ftd_json(
        daemon,
        "train",
        "moving.jsonl",
        "--provider",
        "second",
        "--set",
        "hyperparameters.n_epochs=1",
        "--set",
        "evaluation.enabled=true",
    )
    assert answer["provider"] == "second"
    assert answer["dataset_id"] == first["id"]
    job = job_of(daemon, answer["run_id"], "succeeded")
    assert job["provider"] == "second"
    run = daemon.query("SELECT * FROM datasets WHERE id = ?", (answer["run_id"],))[0]
    assert [j.id for j in setup.second.jobs(run)] == [job["job_id"]]
    assert setup.second.files(tag_of(dict(run)))
    assert not setup.first.jobs(run)
    assert splits(daemon, answer["run_id"]) == splits(daemon, first["id"])
    listed = daemon.ftd("jobs")
    assert f"run-{answer['run_id']}" in listed.stdout
    # Each run meets the spend guard on its own: held, then approved by its name.
    held = ftd_json(
        daemon, "train", "moving.jsonl", "--set", "seed=5", "--set", "max_cost_usd=0.0001"
    )
    assert held["state"] == "awaiting_approval"
    assert "over max_cost_usd" in held["approval"]["reason"]
    approved = daemon.ftd("approve", held["run"])
    assert approved.returncode == 0, approved.stderr
    job_of(daemon, held["run_id"], "succeeded")
    plain = daemon.ftd("train", "moving.jsonl", "--set", "seed=3")
    assert plain.returncode == 0, plain.stderr
    assert re.fullmatch(
        rf"run-\d+ of dataset {first['id']} \(moving\.jsonl\): gpt-[\w.-]+ at default, "
        r"estimated \$\d+\.\d\d: ready\n",
        plain.stdout,
    )
    # Its report is its own, beside its dataset's file and named by the run.
    evaluation = evaluation_of(daemon, answer["run_id"])
    assert evaluation["status"] == "succeeded", evaluation["error"]
    report = wait_until(
        "the run's report",
        lambda: daemon.query(
            "SELECT report_path FROM evaluations WHERE id = ?", (evaluation["id"],)
        )[0][0],
    )
    assert report == str(daemon.drop / "processed" / f"moving.run-{answer['run_id']}.report.html")
    assert Path(report).exists()


def test_retry_of_a_cancelled_run_trains_it_again_as_a_new_run(setup: Setup) -> None:
    daemon = setup.daemon
    setup.first.configure(speed=0.2)  # slow enough to cancel the job while it runs
    try:
        drop(daemon, "cancelled.jsonl", "cancelled", QUIET)
        row = daemon.wait_dataset("cancelled.jsonl", "submitted", timeout=60)
        job = job_of(daemon, row["id"], "running", timeout=120)
        cancelled = daemon.ftd("cancel", job["job_id"])
        assert cancelled.returncode == 0, cancelled.stderr
        job_of(daemon, row["id"], "cancelled")
    finally:
        setup.first.configure(speed=20)
    retried = daemon.ftd("retry", f"run-{row['id']}")
    assert retried.returncode == 0, retried.stderr
    assert f"run-{row['id']}: job {job['job_id']} cancelled; trained again as run-" in (
        retried.stdout
    )
    again = rows_of(daemon, row["sha256"])[-1]
    assert again["run_of"] == row["id"]
    assert again["settings"] == row["settings"]
    new_job = job_of(daemon, again["id"], "succeeded")
    assert new_job["job_id"] != job["job_id"]
    # A run whose job failed is trained again the same way.
    setup.first.configure(job_failure_rate=1.0)
    try:
        doomed = ftd_json(daemon, "train", f"run-{row['id']}", "--set", "seed=11")
        failed = job_of(daemon, doomed["run_id"], "failed")
    finally:
        setup.first.configure(job_failure_rate=0.0)
    again_after_failure = ftd_json(daemon, "retry", f"run-{doomed['run_id']}")
    assert again_after_failure["retry_of"] == f"run-{doomed['run_id']}"
    assert job_of(daemon, again_after_failure["run_id"], "succeeded")["job_id"] != failed["job_id"]
    # A run whose job succeeded is not retried.
    refused = daemon.ftd("retry", f"run-{again['id']}")
    assert refused.returncode != 0
    assert "succeeded" in refused.stderr


def _jobs_made(emulator: Emulator) -> int:
    """Jobs the emulator holds, from its admin route (which no answer delay holds up)."""
    state = emulator._control("/_emulator/state")
    return sum(int(n) for n in state["jobs"].values())


def test_sigkill_between_a_runs_job_create_and_its_answer_finds_that_runs_job(
    setup: Setup,
) -> None:
    """Two runs of one dataset at one provider: the second's job, made while ftd was killed
    before hearing of it, is found again by that run's tag, not taken for the first's."""
    daemon, emulator = setup.daemon, setup.first
    drop(daemon, "doubt.jsonl", "doubt", QUIET)
    first = daemon.wait_dataset("doubt.jsonl", "submitted", timeout=60)
    first_job = job_of(daemon, first["id"], "succeeded")
    before = _jobs_made(emulator)
    emulator.configure(answer_delay_ms=3000)  # every answer leaves seconds after it is made
    try:
        answer = ftd_json(daemon, "train", str(first["id"]), "--set", "seed=7")
        wait_until(
            "the second run's job at the emulator",
            lambda: _jobs_made(emulator) > before,
            timeout=90,
        )
        daemon.kill()  # the create went through; its answer is still held
    finally:
        emulator.configure(answer_delay_ms=0)
    run = daemon.query("SELECT * FROM datasets WHERE id = ?", (answer["run_id"],))[0]
    assert run["state"] == "creating_job"
    assert not daemon.query("SELECT * FROM jobs WHERE dataset_id = ?", (run["id"],))
    [made] = emulator.jobs(run)
    daemon.start()
    job = job_of(daemon, run["id"], "succeeded")
    assert job["job_id"] == made.id != first_job["job_id"]
    assert [j.id for j in emulator.jobs(run)] == [made.id]  # found again, not made again
    assert [j.id for j in emulator.jobs(first)] == [first_job["job_id"]]
    assert daemon.events("job_found")
