"""``ftd run`` sends a split over the Files API's limit through the Uploads API, in parts.

The emulator's limit and ftd's are lowered to 4 KiB, so a dataset of a few
dozen lines stands for one over 512 MB; the job is made from the file the
parts became, and trains to its end.
"""

from __future__ import annotations

import math

import pytest

from tests.daemon.conftest import MakeDaemon, StartEmulator
from tests.daemon.harness import write_dataset

pytestmark = pytest.mark.slow
CAP = 4096
PART = 1024


def test_a_split_over_the_limit_goes_in_parts_and_trains(
    start_emulator: StartEmulator, make_daemon: MakeDaemon
) -> None:
    emulator = start_emulator("--max-file-bytes", str(CAP))
    daemon = make_daemon(emulator, provider={"files_api_max_bytes": CAP, "upload_part_bytes": PART})
    daemon.start()
    write_dataset(daemon.incoming / "big.jsonl", 200)
    job = daemon.wait_job("big.jsonl", "succeeded", timeout=120)
    assert job["fine_tuned_model"]
    uploads = {
        r["side"]: r["bytes"]
        for r in daemon.query(
            "SELECT side, bytes FROM uploads WHERE dataset_id = ?", (job["dataset_id"],)
        )
    }
    assert uploads["train"] > CAP  # this one could only go in parts
    big = [size for size in uploads.values() if size > CAP]
    small = [size for size in uploads.values() if size <= CAP]
    parts = sum(math.ceil(size / PART) for size in big)
    assert emulator.requests("POST /v1/uploads") == len(big)
    assert emulator.requests("POST /v1/uploads/{id}/parts") == parts
    assert emulator.requests("POST /v1/uploads/{id}/complete") == len(big)
    assert emulator.requests("POST /v1/files") == len(small)
    assert daemon.events("upload_in_parts")
