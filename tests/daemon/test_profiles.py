"""Several provider profiles in one daemon: a sidecar picks one, each job is followed there."""

from __future__ import annotations

import json

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import write_dataset


def test_a_sidecar_sends_its_dataset_to_another_profile(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    first, second = start_emulator(), start_emulator()
    daemon = make_daemon(
        first,
        **{
            "providers.second": {"kind": "compatible", "max_retries": 2, "timeout_seconds": 20.0},
            "providers.second.compatible": {"base_url": second.base_url},
            "evaluation": {"enabled": False},
        },
    )
    daemon.start()
    (daemon.incoming / "there.toml").write_text('provider = "second"\n')
    write_dataset(daemon.incoming / "there.jsonl", seed="there ")
    write_dataset(daemon.incoming / "here.jsonl", seed="here ")
    there = daemon.wait_job("there.jsonl", "succeeded", timeout=120)
    here = daemon.wait_job("here.jsonl", "succeeded", timeout=120)
    assert (there["provider"], here["provider"]) == ("second", "default")
    assert [j.id for j in second.jobs()] == [there["job_id"]]
    assert [j.id for j in first.jobs()] == [here["job_id"]]
    # Each profile's files went to its own provider, and the job was created there once.
    assert second.requests("POST /v1/fine_tuning/jobs") == 1
    assert first.requests("POST /v1/fine_tuning/jobs") == 1
    row = daemon.dataset("there.jsonl")
    tag = f"{row['sha256'][:16]}-{row['tag']}"
    assert second.files(tag)
    assert not first.files(tag)
    assert daemon.stop() == 0


def test_an_unknown_profile_rejects_the_dataset_naming_the_known_ones(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator()
    daemon = make_daemon(emulator)
    daemon.start()
    (daemon.incoming / "lost.toml").write_text('provider = "nowhere"\n')
    write_dataset(daemon.incoming / "lost.jsonl")
    row = daemon.wait_dataset("lost.jsonl", "rejected")
    report = json.loads(row["report"])
    message = json.dumps(report)
    assert "nowhere" in message
    assert "default" in message
    assert emulator.requests("POST /v1/files") == 0
    assert daemon.stop() == 0
