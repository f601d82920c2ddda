"""Recordings against the in-process emulator: each item asked once, and read back as a base."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftd.config.evaluation import EvaluationSettings
from ftd.emulator.server import Emulator
from ftd.evaluation.items import read_items
from ftd.evaluation.recorded import Recording, recording_params
from ftd.store import Store
from ftd.store import evaluations as evaluation_rows
from ftd.store import recordings as rows_of
from tests.emulator.helpers import FakeClock
from tests.evaluation.conftest import (
    PRICING,
    MakeBench,
    support_pairs,
    support_records,
    train,
    write_test_file,
)

pytestmark = pytest.mark.anyio


async def _queue(
    store: Store,
    settings: EvaluationSettings,
    model: str,
    test_file: Path,
    origin: str = rows_of.ORIGIN_REQUEST,
) -> int | None:
    return await rows_of.create(
        store,
        name=f"kept-{model}",
        model=model,
        provider="default",
        test_file=str(test_file),
        params=recording_params(settings),
        origin=origin,
    )


async def test_a_recording_asks_each_item_once_and_a_lost_item_is_never_asked_again(
    store: Store, emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(12)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(6, start=12))
    bench = make_bench()
    recording = Recording(
        store, lambda: bench.requester, lambda _m: PRICING, in_flight_for=lambda _m: 2
    )
    new_id = await _queue(store, bench.settings, model, test_file)
    assert new_id is not None
    # The name is the recording's: a second one, even automatic, cannot take it.
    again = await _queue(store, bench.settings, model, test_file, rows_of.ORIGIN_RETIREMENT)
    assert again is None
    # An earlier life wrote item 1's row and died before its answer came back.
    item = read_items(test_file)[1]
    await rows_of.intend(
        store,
        new_id,
        item=item.index,
        line=item.line,
        prompt_sha256=item.prompt_sha256,
        prompt=item.prompt,
        reference=item.reference,
    )
    row = await rows_of.get(store, new_id)
    assert row is not None
    await recording.run(row)
    done = await rows_of.get(store, new_id)
    assert done is not None
    assert (done.status, done.total_items, done.requests) == ("succeeded", 6, 5)
    assert bench.chat_requests() == 5
    assert await rows_of.tally(store, new_id) == {"answered": 5, "lost": 1}
    answers = await rows_of.answers(store, new_id)
    assert answers[1].state == "lost"
    assert answers[1].error == rows_of.LOST_REASON
    assert all(a.response for a in answers if a.item != 1)
    assert done.cost_usd == pytest.approx(
        sum(PRICING.cost(a.prompt_tokens or 0, a.completion_tokens or 0) for a in answers)
    )
    # Run again (a restart after it finished): nothing more is asked.
    await recording.run(done)
    assert bench.chat_requests() == 5
    # An evaluation asking the model the same later finds the answer in the cache.
    first = read_items(test_file)[0]
    reasked = await bench.requester.complete(
        model, list(first.prompt), recording_params(bench.settings)["request"]
    )
    assert reasked.cached
    assert reasked.text == answers[0].response
    assert bench.chat_requests() == 5


async def test_an_evaluation_against_a_recording_asks_only_the_candidate(
    store: Store, emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    retiring = await train(emulator, clock, support_records(support_pairs(12)))
    successor = await train(emulator, clock, support_records(support_pairs(18)))
    test_file = write_test_file(tmp_path / "test.jsonl", support_pairs(6, start=12))
    bench = make_bench(graders=["f1", "pairwise"], judge_repeat_sample=0)
    recording = Recording(
        store, lambda: bench.requester, lambda _m: PRICING, in_flight_for=lambda _m: 2
    )
    kept = await _queue(store, bench.settings, retiring, test_file)
    assert kept is not None
    row = await rows_of.get(store, kept)
    assert row is not None
    await recording.run(row)
    # The retiring model fails one item: its side of that item fails with the reason.
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE recorded_answers SET state = 'failed', response = NULL, error = 'boom' "
            "WHERE recording_id = ? AND item = 5",
            (kept,),
        )
    asked_before = bench.chat_requests()
    new_id = await evaluation_rows.queue(
        store,
        kind=evaluation_rows.KIND_REQUEST,
        model=successor,
        base_model=retiring,
        test_file=str(test_file),
        config=bench.settings.model_dump(mode="json"),
        recording_id=kept,
    )
    assert new_id is not None
    done = await bench.resume(new_id)
    assert done.status == "succeeded"
    assert done.verdict is not None
    items = await evaluation_rows.items(store, new_id)
    base = {i["item"]: i for i in items if i["role"] == "base"}
    recorded = {a.item: a for a in await rows_of.answers(store, kept)}
    assert all(base[n]["response"] == recorded[n].response for n in range(5))
    assert all(base[n]["cached"] for n in range(5))
    assert "recording kept-" in base[5]["error"]
    assert "boom" in base[5]["error"]
    # Six candidate answers and two pairwise orders for the five items both sides answered.
    assert bench.chat_requests() - asked_before == 6 + 2 * 5
    assert done.summary is not None
    sides = done.summary["sides"]
    assert sides["candidate"] == {"model": successor, "source": "live"}
    assert sides["base"]["source"] == "recorded"
    assert sides["base"]["recording"] == f"kept-{retiring}"
    assert sides["base"]["recorded_at"].endswith("Z")
