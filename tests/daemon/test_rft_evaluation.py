"""A reinforcement dataset from the drop folder to its evaluation's verdict, by its own grader.

Real ``ftd run`` and ``ftd emulator --flavor azure`` processes: Azure still
trains o4-mini with reinforcement. The sidecar's string check rewards the
exact answer in the line's ``answer`` field; the evaluation scores the
fine-tuned model and its base with that grader and no other. A second
dataset in the same daemon is graded by cosine similarity, whose embeddings
are asked of the operator's ``text-embedding-3-small`` deployment.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import ARM_TOKEN, Daemon

SIDECAR = """model = "o4-mini"
method = "reinforcement"
[reinforcement.grader]
type = "string_check"
name = "answer"
input = "{{sample.output_text}}"
reference = "{{item.answer}}"
operation = "eq"
"""


COSINE_SIDECAR = """model = "o4-mini"
method = "reinforcement"
test_fraction = 0.3
[reinforcement.grader]
type = "text_similarity"
name = "close"
input = "{{sample.output_text}}"
reference = "{{item.answer}}"
evaluation_metric = "cosine"
"""
EMBEDDINGS = "text-embedding-3-small"


def deploy_embeddings(root_url: str) -> None:
    """The operator's deployment of the embeddings model, made through ARM as they would."""
    url = (
        f"{root_url}/subscriptions/sub-1/resourceGroups/rg-ftd/providers/"
        f"Microsoft.CognitiveServices/accounts/acct-ftd/deployments/{EMBEDDINGS}"
        "?api-version=2024-10-01"
    )
    body = {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": EMBEDDINGS}},
    }
    request = urllib.request.Request(  # noqa: S310 - loopback emulator
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ARM_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status in (200, 201)


def finished_evaluation(daemon: Daemon, job_id: str) -> Any:
    deadline = time.monotonic() + 180
    while True:
        rows = daemon.query("SELECT * FROM evaluations WHERE job_id = ?", (job_id,))
        if rows and rows[0]["status"] in ("succeeded", "stopped", "failed"):
            return rows[0]
        assert time.monotonic() < deadline, f"no finished evaluation: {rows}"
        time.sleep(0.3)


def rft_lines(count: int, start: int = 0) -> bytes:
    lines = [
        {"messages": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": str(2 * i)}
        for i in range(start, start + count)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def test_a_reinforcement_dataset_is_evaluated_with_its_own_grader(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator("--flavor", "azure")
    evaluation: dict[str, Any] = {"judge_repeat_sample": 0, "resamples": 1000}
    daemon = make_daemon(emulator, evaluation=evaluation)
    deploy_embeddings(emulator.root_url)
    daemon.start()
    # the cosine dataset is small (40 lines, 12 held out) to keep the test short
    for name, sidecar, lines in (
        ("sums", SIDECAR, rft_lines(100)),
        ("close", COSINE_SIDECAR, rft_lines(40, start=1000)),
    ):
        (daemon.incoming / f"{name}.toml").write_text(sidecar)
        temporary = daemon.incoming / f".{name}.jsonl.part"
        temporary.write_bytes(lines)
        os.replace(temporary, daemon.incoming / f"{name}.jsonl")

    # RFT is billed by the hour: no estimate, so an admin approves the spending
    for name in ("sums.jsonl", "close.jsonl"):
        held = daemon.wait_dataset(name, "awaiting_approval")
        assert daemon.ftd("approve", str(held["id"])).returncode == 0
    job = daemon.wait_job("sums.jsonl", "succeeded", timeout=90)
    row = finished_evaluation(daemon, job["job_id"])
    assert row["status"] == "succeeded", row["error"]
    summary = json.loads(row["summary"])
    assert list(summary["graders"]) == ["rft"]
    assert summary["primary_grader"] == "rft"
    graded = summary["graders"]["rft"]
    assert graded["kind"] == "pass_fail"  # a string check passes or fails
    assert graded["test"] == "mcnemar"
    assert graded["errors"] == 0
    assert summary["verdict"] == graded["verdict"]
    assert summary["verdict"] is not None
    items = daemon.query(
        "SELECT role, scores FROM evaluation_items WHERE evaluation_id = ?", (row["id"],)
    )
    test_split = daemon.query(
        "SELECT examples FROM splits WHERE dataset_id = ? AND side = 'test'", (row["dataset_id"],)
    )[0][0]
    assert len(items) == 2 * test_split
    for item in items:
        score = json.loads(item["scores"])["rft"]
        assert score["passed"] in (True, False)
        assert score["explanation"].endswith("the reference")

    # the cosine grader: each answer and its reference embedded at the deployment, a score
    close_job = daemon.wait_job("close.jsonl", "succeeded", timeout=90)
    close = finished_evaluation(daemon, close_job["job_id"])
    assert close["status"] == "succeeded", close["error"]
    graded = json.loads(close["summary"])["graders"]["rft"]
    assert (graded["kind"], graded["errors"]) == ("score", 0)
    scores = [
        json.loads(item["scores"])["rft"]
        for item in daemon.query(
            "SELECT scores FROM evaluation_items WHERE evaluation_id = ?", (close["id"],)
        )
    ]
    assert scores
    assert all(-1.0 <= s["score"] <= 1.0 and "embeddings" in s["explanation"] for s in scores)
    embedded = daemon.query(
        "SELECT COUNT(*), SUM(prompt_tokens) FROM completion_cache WHERE model = ?", (EMBEDDINGS,)
    )[0]
    assert embedded[0] > 0
    assert embedded[1] > 0
    assert emulator.requests("POST /openai/v1/embeddings") >= embedded[0]
    assert daemon.stop() == 0
