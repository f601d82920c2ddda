"""The batch stages' own reading: progress while a batch runs, output lines read back.

Progress is the provider's request counts, or its percentage done; output
lines are read a bounded chunk at a time, a line over the cap skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import openai
import orjson
import pytest

from ftd.evaluation.batch import stages
from ftd.evaluation.batch.requests import Spec
from ftd.evaluation.batch.stages import BatchStages, counts_so_far
from ftd.evaluation.budget import Pricing
from ftd.evaluation.cache import cache_key
from ftd.providers.batches import IN_PROGRESS, RemoteBatch
from ftd.providers.core import CallPolicy
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store
from ftd.store.batches import BatchRow


def batch_row(requests: int) -> BatchRow:
    return BatchRow(
        id=1,
        evaluation_id=1,
        stage="answers",
        tag="ftd-e1-t-0",
        path="/p",
        model="m",
        requests=requests,
        bytes=100,
        file_id="f",
        batch_id="b",
        status=IN_PROGRESS,
        completed=0,
        failed=0,
        committed=0,
        committed_lines=0,
        error=None,
        created_at=0.0,
        updated_at=0.0,
    )


def test_openais_counts_are_shown_as_told() -> None:
    remote = RemoteBatch("b", IN_PROGRESS, total=400, completed=120, failed=3)
    assert counts_so_far(batch_row(400), remote) == (120, 3)


def test_togethers_percentage_is_shown_as_that_share_of_the_requests() -> None:
    row = batch_row(25_000)
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS, progress=37.5)) == (9375, 0)
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS, progress=0.0)) == (0, 0)
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS, progress=100.0)) == (25_000, 0)
    # Neither counts nor a percentage: nothing known yet.
    assert counts_so_far(row, RemoteBatch("b", IN_PROGRESS)) == (0, 0)


def output_line(custom_id: str, text: str) -> bytes:
    body = {
        "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        "model": "m",
    }
    line = {"custom_id": custom_id, "response": {"status_code": 200, "body": body}}
    return orjson.dumps(line) + b"\n"


@pytest.fixture
async def batch_stages(store: Store, tmp_path: Path) -> AsyncIterator[BatchStages]:
    # Only the adapter's reading of an answer is used: nothing is sent to the address.
    async with openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        provider = OpenAIProvider("default", client, policy=CallPolicy(retries=0))
        yield BatchStages(store, provider, lambda model: Pricing(1.0, 1.0), tmp_path)


@pytest.mark.anyio
async def test_output_lines_come_in_bounded_chunks_and_a_line_over_the_cap_is_skipped(
    batch_stages: BatchStages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stages, "COMMIT_CHUNK", 2)
    monkeypatch.setattr(stages, "MAX_LINE_BYTES", 400)
    path = tmp_path / "out.jsonl"
    path.write_bytes(
        output_line("e1/0/answer/0", "zero")
        + b"\n"  # a blank line is no line
        + output_line("e1/1/answer/0", "x" * 1000)  # over the cap
        + output_line("e1/2/answer/0", "two")
        + b'{"custom_id": "e1/3/answer/0", "error": {"code": "boom", "message": "no"}}\n'
        + output_line("e1/4/answer/0", "four")
    )
    chunks = [c async for c in batch_stages._read_lines(batch_row(5), path, 2)]
    assert [read for _, read in chunks] == [2, 2, 1]
    lines = [line for chunk, _ in chunks for line in chunk]
    assert [(line.custom_id, line.text) for line in lines] == [
        ("e1/0/answer/0", "zero"),
        ("e1/2/answer/0", "two"),
        ("e1/3/answer/0", None),
        ("e1/4/answer/0", "four"),
    ]
    assert lines[2].reason == "boom: no"
    assert (lines[0].prompt_tokens, lines[0].completion_tokens) == (7, 3)
    # The first two lines were committed before: marked so, the rest not.
    assert [line.paid_before for line in lines] == [True, False, False, False]


def test_the_keys_written_beside_a_request_file_are_those_its_requests_hash_to(
    tmp_path: Path,
) -> None:
    specs = [
        Spec(
            f"e1/{i}/answer/0",
            "m",
            [{"role": "user", "content": f"q{i} é"}],
            {"temperature": 0},
            0,
            ("answer", 0),
            cache_key("m", [{"role": "user", "content": f"q{i} é"}], {"temperature": 0}),
        )
        for i in range(5)
    ]
    specs.append(
        Spec(
            "e1/0/judge_repeat/0",
            "j",
            [{"role": "user", "content": "rate"}],
            {},
            1,
            ("repeat", 0),
            cache_key("j", [{"role": "user", "content": "rate"}], {}, repeat=1),
        )
    )
    writer = stages._Writer(tmp_path / "ftd-e1-t-0.jsonl", "ftd-e1-t-0", "m")
    for spec in specs:
        writer.add(stages._request_line(spec), spec.custom_id, spec.key)
    writer.close()
    with (tmp_path / "ftd-e1-t-0.jsonl").open("rb") as handle:
        parsed = stages._request_keys(handle, 100)
    # A crash cut the last line short: that line is no pair.
    keys = stages.keys_path(tmp_path / "ftd-e1-t-0.jsonl")
    keys.write_bytes(keys.read_bytes() + b"e1/9/answer/0 abc")
    with keys.open("rb") as handle:
        written = [stages._written_keys(handle, 4), stages._written_keys(handle, 4)]
    assert written[0] + written[1] == parsed
    assert [len(chunk) for chunk in written] == [4, 2]
    assert [key for _, key in parsed] == [spec.key for spec in specs]
