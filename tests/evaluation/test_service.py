"""The service: requests checked before queueing, ready jobs queued once, the loop, the reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

from ftd.config import EvaluationSettings, Settings, load_settings
from ftd.emulator.server import Emulator
from ftd.evaluation.items import ItemsError
from ftd.evaluation.service import EvaluationRequestError, EvaluationService
from ftd.pace import Pace
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store, states
from ftd.store import evaluations as rows_of
from tests.emulator.helpers import FakeClock
from tests.evaluation.conftest import (
    BASE,
    JUDGE,
    support_pairs,
    support_records,
    train,
    write_test_file,
)

pytestmark = pytest.mark.anyio


def settings(tmp_path: Path, **evaluation: Any) -> Settings:
    loaded = load_settings(None, {"HOME": str(tmp_path / "home")})
    values = {"judge_model": JUDGE, "resamples": 1000, "judge_repeat_sample": 0, **evaluation}
    return loaded.model_copy(update={"evaluation": EvaluationSettings(**values)})


async def add_job(
    store: Store,
    test_file: Path,
    *,
    name: str = "faq.jsonl",
    ready: bool = True,
    run_settings: dict[str, Any] | None = None,
) -> str:
    dataset = await store.add_dataset(sha256=name * 4, name=name, path=f"/d/{name}", size_bytes=1)
    job_id = f"ftjob-{dataset.id}"
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE datasets SET state = ?, settings = ? WHERE id = ?",
            (states.SUBMITTED, json.dumps(run_settings or {}), dataset.id),
        )
        await tx.execute(
            "INSERT INTO splits (dataset_id, side, path, examples, sha256) VALUES (?, ?, ?, ?, ?)",
            (dataset.id, "test", str(test_file), 5, "x"),
        )
        await tx.execute(
            "INSERT INTO jobs (dataset_id, job_id, status, model, fine_tuned_model, "
            "model_ready_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
            (
                dataset.id,
                job_id,
                states.JOB_SUCCEEDED,
                BASE,
                f"ft:{BASE}:org::{dataset.id}",
                1.0 if ready else None,
            ),
        )
    return job_id


async def test_requests_are_checked_before_they_are_queued(store: Store, tmp_path: Path) -> None:
    service = EvaluationService(store, settings(tmp_path))
    good = write_test_file(tmp_path / "test.jsonl", support_pairs(3))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"prompt": "x"}\n')
    with pytest.raises(ItemsError) as caught:
        await service.request(model="m", test_file=bad)
    assert caught.value.line == 4
    assert str(bad) in str(caught.value)
    with pytest.raises(EvaluationRequestError, match="absolute") as relative:
        await service.request(model="m", test_file=Path("test.jsonl"))
    assert relative.value.argument == "test_file"
    with pytest.raises(EvaluationRequestError, match="known: exact") as graders:
        await service.request(model="m", test_file=good, graders=["bleu"])
    assert graders.value.argument == "graders"
    with pytest.raises(EvaluationRequestError):
        await service.request(model="two words", test_file=good)
    with pytest.raises(EvaluationRequestError):
        await service.request(model="m", test_file=good, base_model="m")
    assert await rows_of.counts(store) == {}

    new_id = await service.request(model="m", test_file=good, base_model="b", graders=["exact"])
    row = await rows_of.get(store, new_id)
    assert row is not None
    assert (row.kind, row.model, row.base_model, row.status) == ("request", "m", "b", "queued")
    assert row.config["graders"] == ["exact"]
    assert row.test_file == str(good)


async def test_a_ready_job_is_queued_exactly_once(store: Store, tmp_path: Path) -> None:
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(5))
    job_id = await add_job(store, test_file)
    await add_job(store, test_file, name="late.jsonl", ready=False)
    await add_job(
        store,
        test_file,
        name="off.jsonl",
        run_settings={"evaluation": {"enabled": False}},
    )
    picky = await add_job(
        store,
        test_file,
        name="picky.jsonl",
        run_settings={"evaluation": {"graders": ["exact"], "enabled": None}},
    )
    service = EvaluationService(store, settings(tmp_path))
    queued: list[int] = []

    async def scan() -> None:
        queued.extend(await service.queue_ready())

    async with anyio.create_task_group() as tg:  # two scans racing: the index decides
        tg.start_soon(scan)
        tg.start_soon(scan)
    assert len(queued) == 2
    assert await service.queue_ready() == []
    rows = await rows_of.running(store)
    assert sorted(r.job_id or "" for r in rows) == sorted([job_id, picky])
    first = next(r for r in rows if r.job_id == job_id)
    assert first.base_model == BASE
    assert first.model == f"ft:{BASE}:org::{first.dataset_id}"
    assert first.kind == "job"
    assert next(r for r in rows if r.job_id == picky).config["graders"] == ["exact"]


async def test_the_loop_runs_a_request_and_the_reads_show_it(
    store: Store, emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(30)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(8, start=30))
    # as the split writes it: line n of the test split came from line n + 100 of support.jsonl
    line_map = {"source": "support.jsonl", "lines": [n + 100 for n in range(1, 9)]}
    (tmp_path / "test.lines.json").write_text(json.dumps(line_map))
    client_settings = settings(tmp_path, concurrency=4)
    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="t", max_retries=0)
    remote = OpenAIProvider("default", client, pace=Pace(concurrency=8, per_minute=None))
    service = EvaluationService(store, client_settings, provider=remote, scan_seconds=0.2)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            new_id = await service.request(model=model, test_file=test_file, base_model=BASE)
            live = await service.running()
            assert [r["id"] for r in live] == [new_id]
            with anyio.fail_after(30):
                while True:
                    row = await rows_of.get(store, new_id)
                    assert row is not None
                    if row.status in rows_of.FINAL:
                        break
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    finally:
        await remote.close()
    detail = await service.detail(new_id)
    assert detail is not None
    assert detail["evaluation"]["status"] == "succeeded"
    # 8 items are fewer than a score comparison needs for a verdict
    assert detail["summary"]["verdict"] == "too_few_items"
    assert detail["summary"]["progress"] == {"done": 8, "total": 8, "errors": 0}
    assert len(detail["differences"]) == 5
    assert detail["differences"][0]["candidate"]["answer"]
    for item in detail["differences"]:
        assert item["source"] == {"file": "support.jsonl", "line": item["line"] + 100}
    assert await service.running() == []
    counts = await service.counts()
    assert counts["by_status"] == {"succeeded": 1}
    assert counts["limits"][model]["ceiling"] == 4
    verdicts = await service.verdicts([model, "unknown"])
    assert verdicts[model]["verdict"] == "too_few_items"
    assert "unknown" not in verdicts
    assert await service.detail(999) is None
