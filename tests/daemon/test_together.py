"""Datasets at Together AI beside an OpenAI-shaped profile, in one daemon.

Real ``ftd run``, ``ftd emulator --flavor together`` and ``ftd emulator``
processes, shared by the module: every dataset is dropped at the start and
each test waits for its own, so the module costs one daemon's life.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator, wait_until, write_dataset

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
OPENAI_MODEL = "gpt-4.1-mini-2025-04-14"
EVALUATION = {
    "graders": ["exact", "f1"],
    "primary_grader": "f1",
    "judge_repeat_sample": 0,
    "batch_poll_seconds": 0.3,
}
PRICE = {"training_per_mtok": 0.48, "input_per_mtok": 0.18, "output_per_mtok": 0.18}


def admin(root: str, path: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback only
        root + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"content-type": "application/json", "authorization": "Bearer k"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


def write_preferences(path: Path, count: int) -> None:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": f"Greet person {i}"}]},
                "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
                "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
            }
        )
        for i in range(count)
    ]
    temporary = path.with_name("." + path.name + ".part")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)


def write_unalternating(path: Path, count: int) -> None:
    """Conversations OpenAI takes but Together refuses: line 7 has two user turns in a row."""
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"Count to {i}"},
                {"role": "assistant", "content": " ".join(str(n) for n in range(1, i + 2))},
            ]
        }
        for i in range(count)
    ]
    lines[6]["messages"].insert(0, {"role": "user", "content": "Please."})
    temporary = path.with_name("." + path.name + ".part")
    temporary.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.replace(temporary, path)


@dataclass
class World:
    daemon: Daemon
    together: EmulatorProcess
    openai: Emulator
    revoked: Emulator


def _sidecar(daemon: Daemon, name: str, text: str) -> None:
    (daemon.incoming / f"{name}.toml").write_text(text)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("together")
    together = EmulatorProcess(
        "--flavor", "together", "--speed", "20", log_path=root / "together.log"
    )
    together.start()
    openai_process = EmulatorProcess("--speed", "20", log_path=root / "openai.log")
    openai_process.start()
    openai = Emulator(openai_process.base_url)
    # An OpenAI-shaped provider that refuses the key on every call (revoked or mistyped).
    revoked_process = EmulatorProcess("--refuse-keys", log_path=root / "revoked.log")
    revoked_process.start()
    sections: dict[str, dict[str, Any]] = {
        "provider": {"kind": "together", "api_key_env": "OPENAI_API_KEY"},
        "provider.together": {"base_url": together.base_url},
        "providers.dedicated": {"kind": "together", "api_key_env": "OPENAI_API_KEY"},
        "providers.dedicated.together": {
            "base_url": together.base_url,
            "endpoint_hardware": "1x_nvidia_h100_80gb_sxm",
            "endpoint_hourly_usd": 3.0,
        },
        "providers.openai": {"kind": "compatible", "max_retries": 1, "timeout_seconds": 10.0},
        "providers.openai.compatible": {"base_url": openai_process.base_url},
        "providers.revoked": {"kind": "compatible", "max_retries": 1, "timeout_seconds": 10.0},
        "providers.revoked.compatible": {"base_url": revoked_process.base_url},
        "defaults": {"model": LLAMA},
        f'prices."{LLAMA}"': PRICE,
        "evaluation": EVALUATION,
    }
    daemon = Daemon(root / "ftd", together.base_url, sections)
    _sidecar(daemon, "dpo", 'method = "dpo"\n')
    _sidecar(
        daemon,
        "full",
        '[together]\ntraining_type = "full"\nn_checkpoints = 2\n[evaluation]\nenabled = false\n',
    )
    _sidecar(daemon, "unsupported", f'model = "{OPENAI_MODEL}"\n')
    _sidecar(
        daemon,
        "storm",
        f'provider = "openai"\nmodel = "{OPENAI_MODEL}"\n[evaluation]\nenabled = false\n',
    )
    _sidecar(
        daemon,
        "revoked",
        f'provider = "revoked"\nmodel = "{OPENAI_MODEL}"\n[evaluation]\nenabled = false\n',
    )
    _sidecar(daemon, "lora", "[together]\nlora_r = 8\nn_checkpoints = 3\n")
    _sidecar(daemon, "hosted", 'provider = "dedicated"\n[together]\ntraining_type = "full"\n')
    # The OpenAI-shaped provider fails every call (a 5xx storm) from the start.
    openai.configure(error_rate=1.0)
    daemon.start()
    write_dataset(daemon.incoming / "storm.jsonl", 60, seed="storm ")
    write_dataset(daemon.incoming / "lora.jsonl", 120, seed="lora ")
    write_preferences(daemon.incoming / "dpo.jsonl", 120)  # a test split to evaluate on
    write_dataset(daemon.incoming / "full.jsonl", 60, seed="full ")
    write_dataset(daemon.incoming / "unsupported.jsonl", 60, seed="nope ")
    write_dataset(daemon.incoming / "hosted.jsonl", 120, seed="hosted ")
    write_unalternating(daemon.incoming / "unalternating.jsonl", 30)
    write_dataset(daemon.incoming / "revoked.jsonl", 60, seed="revoked ")
    try:
        yield World(daemon, together, openai, Emulator(revoked_process.base_url))
    finally:
        daemon.close()
        together.stop()
        openai_process.stop()
        revoked_process.stop()


def _query(daemon: Daemon, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    return daemon.query(sql, params)


def _uploads_named(world: World, tag: str) -> list[str]:
    files = admin(world.together.base_url, "/files")["data"]
    return [f["filename"] for f in files if tag in f["filename"]]


def test_a_lora_run_is_trained_checkpointed_and_evaluated_against_its_base(world: World) -> None:
    daemon = world.daemon
    job = daemon.wait_job("lora.jsonl", "succeeded", timeout=180)
    assert job["provider"] == "default"
    assert job["fine_tuned_model"].startswith("ftd-emulator/" + LLAMA)
    remote = admin(world.together.base_url, f"/fine-tunes/{job['job_id']}")
    assert remote["training_type"]["lora_r"] == 8
    assert remote["n_checkpoints"] == 3
    evaluation = wait_until(
        "the evaluation",
        lambda: [
            e
            for e in _query(daemon, "SELECT * FROM evaluations WHERE job_id = ?", (job["job_id"],))
            if e["status"] == "succeeded"
        ],
    )[0]
    assert evaluation["status"] == "succeeded"
    failed = _query(
        daemon,
        "SELECT count(*) AS n FROM evaluation_items WHERE evaluation_id = ? AND error IS NOT NULL",
        (evaluation["id"],),
    )
    assert failed[0]["n"] == 0
    steps = [
        r["step"]
        for r in _query(
            daemon,
            "SELECT step FROM job_checkpoints WHERE job_id = ? ORDER BY step",
            (job["job_id"],),
        )
    ]
    assert len(steps) == 3
    metrics = _query(
        daemon, "SELECT count(*) AS n FROM job_metrics WHERE job_id = ?", (job["job_id"],)
    )
    assert metrics[0]["n"] > 0
    # The spend guard holds Together's own estimate beside the one from ftd's price table.
    report = json.loads(daemon.dataset("lora.jsonl")["report"])
    assert report["provider_estimate"]["usd"] > 0
    assert report["provider_estimate"]["table_usd"] is not None


@pytest.mark.timeout(400)
def test_dpo_and_full_runs_complete_with_checkpoints_and_dpo_is_evaluated(world: World) -> None:
    daemon = world.daemon
    dpo = daemon.wait_job("dpo.jsonl", "succeeded", timeout=180)
    full = daemon.wait_job("full.jsonl", "succeeded", timeout=180)
    remote_dpo = admin(world.together.base_url, f"/fine-tunes/{dpo['job_id']}")
    remote_full = admin(world.together.base_url, f"/fine-tunes/{full['job_id']}")
    assert remote_dpo["training_method"]["method"] == "dpo"
    assert remote_full["training_type"] == {"type": "Full"}
    for job_id in (dpo["job_id"], full["job_id"]):

        def checkpoints(job_id: str = job_id) -> list[sqlite3.Row]:
            return _query(daemon, "SELECT * FROM job_checkpoints WHERE job_id = ?", (job_id,))

        assert wait_until("checkpoints", checkpoints)

    # The DPO run is judged on its held-out prompts against its base (the preferred
    # answers are the references), like the supervised one.
    def finished() -> list[sqlite3.Row]:
        rows = _query(daemon, "SELECT * FROM evaluations WHERE job_id = ?", (dpo["job_id"],))
        return [e for e in rows if e["status"] in ("succeeded", "failed", "stopped")]

    evaluation = wait_until("the DPO run's evaluation", finished, timeout=300)[0]
    assert evaluation["status"] == "succeeded", evaluation["error"]
    assert evaluation["base_model"] == dpo["model"]
    assert evaluation["verdict"] is not None
    asked = _query(
        daemon,
        "SELECT count(*) AS n FROM evaluation_items WHERE evaluation_id = ? AND error IS NULL",
        (evaluation["id"],),
    )
    held_out = _query(
        daemon,
        "SELECT examples FROM splits WHERE dataset_id = ? AND side = 'test'",
        (dpo["dataset_id"],),
    )[0]["examples"]
    assert held_out > 0
    assert asked[0]["n"] == 2 * held_out  # candidate and base, on every test item


def test_a_model_together_does_not_train_is_refused_before_any_upload(world: World) -> None:
    daemon = world.daemon
    row = daemon.wait_dataset("unsupported.jsonl", "failed", timeout=120)
    assert OPENAI_MODEL in (row["error"] or "")
    tag = f"{row['sha256'][:16]}-{row['tag']}"
    assert _uploads_named(world, tag) == []


def test_a_together_profile_validates_by_together_s_rules(world: World) -> None:
    row = world.daemon.wait_dataset("unalternating.jsonl", "rejected", timeout=120)
    errors = json.loads(row["report"])["errors"]
    found = {issue["kind"]: issue["samples"][0] for issue in errors}
    assert found["role_order"]["line"] == 7
    assert "messages[1].role" in found["role_order"]["message"]
    assert _uploads_named(world, row["sha256"][:16]) == []
    # No tokenizer.json is configured for the model: the counts say they are approximate.
    shown = world.daemon.ftd("show", "unalternating.jsonl").stdout
    assert "token counts" in shown
    assert "approximate: o200k_base counts" in shown


def test_a_full_fine_tune_is_served_on_an_endpoint_for_its_evaluation_then_deleted(
    world: World,
) -> None:
    daemon = world.daemon
    job = daemon.wait_job("hosted.jsonl", "succeeded", timeout=180)
    assert job["provider"] == "dedicated"
    report = json.loads(daemon.dataset("hosted.jsonl")["report"])
    assert report["hosting_estimate_usd"] == pytest.approx(3.0)  # one endpoint hour
    evaluation = wait_until(
        "the evaluation",
        lambda: [
            e
            for e in _query(daemon, "SELECT * FROM evaluations WHERE job_id = ?", (job["job_id"],))
            if e["status"] == "succeeded"
        ],
    )[0]
    failed = _query(
        daemon,
        "SELECT count(*) AS n FROM evaluation_items WHERE evaluation_id = ? AND error IS NOT NULL",
        (evaluation["id"],),
    )
    assert failed[0]["n"] == 0
    wait_until(
        "the endpoint deleted",
        lambda: (
            [r["state"] for r in _query(daemon, "SELECT state FROM deployments")] == ["deleted"]
        ),
    )
    rows = _query(daemon, "SELECT * FROM deployments")
    assert [(r["role"], r["model"], r["hourly_usd"]) for r in rows] == [
        ("candidate", job["fine_tuned_model"], 3.0)
    ]
    endpoints = world_endpoints(world)
    assert (endpoints["creates"], endpoints["deletes"], endpoints["live"]) == (1, 1, [])
    # ftd status counts what the endpoint cost at its hourly rate while it lived.
    (row,) = rows
    lived = (row["deleted_at"] - row["created_at"]) / 3600
    status = json.loads(daemon.ftd("status", "--json").stdout)
    assert status["hosting_usd"] >= round(lived * 3.0, 4) > 0
    figures = status["spend"]["by_profile"]
    assert figures["dedicated"]["hosting"]["all_time"] == pytest.approx(lived * 3.0, abs=1e-6)
    assert figures["default"]["hosting"] is None  # the serverless profile hosts nothing
    assert figures["dedicated"]["training"]["all_time"] > 0  # the full run's job
    shown = daemon.ftd("status").stdout.splitlines()
    spent = next(line for line in shown if line.startswith("spent        dedicated:"))
    assert "; hosting $" in spent
    # The LoRA fine-tune at the serverless profile needed none.
    lora = daemon.dataset("lora.jsonl")
    assert not _query(
        daemon,
        "SELECT 1 FROM deployments d JOIN jobs j USING (job_id) WHERE j.dataset_id = ?",
        (lora["id"],),
    )


def world_endpoints(world: World) -> dict[str, Any]:
    answer: dict[str, Any] = admin(world.together.root_url, "/_emulator/endpoints")
    return answer


def test_a_refused_key_fails_its_profile_alone_and_status_shows_it(world: World) -> None:
    daemon = world.daemon
    row = daemon.wait_dataset("revoked.jsonl", "failed", timeout=120)
    assert "invalid_api_key" in (row["error"] or "") or "Incorrect API key" in (row["error"] or "")
    # Asked once (max_retries 1 does not retry an auth refusal) and refused.
    assert world.revoked.requests("POST /v1/files") == 1
    # Together's datasets went on to the end, untouched by the refusal.
    job = daemon.wait_job("lora.jsonl", "succeeded", timeout=180)
    assert job["provider"] == "default"
    answer = json.loads(daemon.ftd("status", "--json").stdout)
    profiles = answer["profiles"]
    assert profiles["revoked"]["jobs"] == {}
    assert profiles["revoked"]["last_error"]["dataset"] == "revoked.jsonl"
    assert profiles["default"]["jobs"].get("succeeded", 0) >= 1
    assert profiles["default"]["last_error"] is None or (
        profiles["default"]["last_error"]["dataset"] != "revoked.jsonl"
    )
    shown = daemon.ftd("status").stdout
    revoked_line = next(line for line in shown.splitlines() if line.startswith("  revoked "))
    assert "jobs none" in revoked_line
    assert "Incorrect API key" in revoked_line
    default_line = next(line for line in shown.splitlines() if line.startswith("  default "))
    assert "(together)" in default_line
    assert "succeeded" in default_line


def _finished_eval(daemon: Daemon, ident: str) -> dict[str, Any]:
    number = int(ident.removeprefix("eval-"))
    row: dict[str, Any] = wait_until(
        ident,
        lambda: [
            dict(e)
            for e in _query(daemon, "SELECT * FROM evaluations WHERE id = ?", (number,))
            if e["status"] in ("succeeded", "stopped", "failed")
        ],
    )[0]
    row["summary"] = json.loads(row["summary"])
    row["items"] = [
        dict(r)
        for r in _query(
            daemon,
            "SELECT item, role, response, scores, error FROM evaluation_items "
            "WHERE evaluation_id = ? ORDER BY item, role",
            (number,),
        )
    ]
    return row


def test_a_batch_evaluation_at_together_runs_through_its_batches_to_the_live_verdict(
    world: World, tmp_path: Path
) -> None:
    daemon = world.daemon
    job = daemon.wait_job("lora.jsonl", "succeeded", timeout=180)
    held = tmp_path / "held.jsonl"
    write_dataset(held, 12, seed="held ")
    model = job["fine_tuned_model"]

    def queue(*more: str) -> str:
        queued = daemon.ftd("eval", model, "--test-file", str(held), "--base", LLAMA, *more)
        assert queued.returncode == 0, queued.stderr
        return queued.stdout.split()[0]

    batch = _finished_eval(daemon, queue("--batch"))
    assert batch["status"] == "succeeded", batch["error"]
    summary = batch["summary"]
    assert summary["mode"]["mode"] == "batch"
    answers = summary["batches"]["stages"]["answers"]
    assert answers["requests"] == answers["completed"] == 24  # both models, every item
    assert answers["failed"] == answers["pending"] == 0
    costs = summary["cost_comparison"]
    assert costs["batch_usd"] > 0
    assert costs["live_usd"] == pytest.approx(2 * costs["batch_usd"], abs=2e-6)  # 6 decimals
    remote = admin(world.together.base_url, "/batches")
    assert remote
    assert {b["status"] for b in remote} == {"COMPLETED"}
    # The same items asked live (the answers now come from the cache) give the same verdict.
    live = _finished_eval(daemon, queue())
    assert live["status"] == "succeeded"
    assert live["verdict"] == batch["verdict"]
    assert live["items"] == batch["items"]
    assert live["summary"]["graders"] == summary["graders"]


def test_one_providers_storm_leaves_the_other_alone_and_both_show_their_provider(
    world: World,
) -> None:
    daemon = world.daemon
    daemon.wait_job("lora.jsonl", "succeeded", timeout=180)
    storm = daemon.dataset("storm.jsonl")
    # Still trying at the failing provider (postponed, not failed) while Together's ran.
    assert storm["state"] in ("ready", "uploading")
    assert world.openai.requests("POST /v1/files") > 0
    world.openai.configure(error_rate=0.0)
    job = daemon.wait_job("storm.jsonl", "succeeded", timeout=240)
    assert job["provider"] == "openai"
    listed = json.loads(daemon.ftd("jobs", "--json").stdout)
    providers = {j["provider"] for j in listed["jobs"]}
    assert {"default", "openai"} <= providers
    table = daemon.ftd("jobs").stdout
    assert "PROVIDER" in table
    assert "openai" in table
