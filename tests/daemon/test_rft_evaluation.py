"""A reinforcement dataset from the drop folder to its evaluation's verdict, by its own grader.

Real ``ftd run`` and ``ftd emulator --flavor azure`` processes: Azure still
trains o4-mini with reinforcement. The sidecar's string check rewards the
exact answer in the line's ``answer`` field; the evaluation scores the
fine-tuned model and its base with that grader and no other.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tests.daemon.conftest import MakeDaemon, StartEmulator

SIDECAR = """model = "o4-mini"
method = "reinforcement"
[reinforcement.grader]
type = "string_check"
name = "answer"
input = "{{sample.output_text}}"
reference = "{{item.answer}}"
operation = "eq"
"""


def rft_lines(count: int) -> bytes:
    lines = [
        {"messages": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": str(2 * i)}
        for i in range(count)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def test_a_reinforcement_dataset_is_evaluated_with_its_own_grader(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator("--flavor", "azure")
    evaluation: dict[str, Any] = {"judge_repeat_sample": 0, "resamples": 1000}
    daemon = make_daemon(emulator, evaluation=evaluation)
    daemon.start()
    (daemon.incoming / "sums.toml").write_text(SIDECAR)
    temporary = daemon.incoming / ".sums.jsonl.part"
    temporary.write_bytes(rft_lines(100))
    os.replace(temporary, daemon.incoming / "sums.jsonl")

    # RFT is billed by the hour: no estimate, so an admin approves the spending
    held = daemon.wait_dataset("sums.jsonl", "awaiting_approval")
    assert daemon.ftd("approve", str(held["id"])).returncode == 0
    job = daemon.wait_job("sums.jsonl", "succeeded", timeout=90)
    deadline = time.monotonic() + 180
    while True:
        rows = daemon.query("SELECT * FROM evaluations WHERE job_id = ?", (job["job_id"],))
        if rows and rows[0]["status"] in ("succeeded", "stopped", "failed"):
            break
        assert time.monotonic() < deadline, f"no finished evaluation: {rows}"
        time.sleep(0.3)
    row = rows[0]
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
    assert daemon.stop() == 0
