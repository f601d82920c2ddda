"""The outbox: a notification commits with its change or not at all; deliveries go in order."""

from __future__ import annotations

import json

import pytest

from ftd.store import Store, outbox

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def _rejected(store: Store, name: str) -> int:
    row = await store.add_dataset(sha256=name, name=name, path=f"/in/{name}", size_bytes=3)
    report = {
        "errors": [
            {"kind": "invalid_json", "count": 2, "samples": [{"line": 3, "message": "not JSON"}]}
        ]
    }
    assert await store.transition(row.id, "detected", "rejected", report=report, error="x")
    return row.id


async def test_a_change_and_its_notification_commit_together_or_not_at_all(store: Store) -> None:
    row = await store.add_dataset(sha256="aa", name="a.jsonl", path="/in/a.jsonl", size_bytes=3)

    async def reject_then_fail() -> None:
        async with store.transaction() as tx:
            assert await tx.transition(row.id, "detected", "rejected", report={"errors": []})
            raise Boom

    with pytest.raises(Boom):
        await reject_then_fail()
    assert await store.read("SELECT * FROM notifications") == []
    kept = await store.dataset(row.id)
    assert kept is not None
    assert kept.state == "detected"
    await _rejected(store, "b.jsonl")
    rows = await store.read("SELECT kind, payload FROM notifications")
    assert [r["kind"] for r in rows] == ["dataset_rejected"]
    payload = json.loads(rows[0]["payload"])
    assert payload["errors"] == 2
    assert payload["first_errors"] == ["line 3: not JSON"]


async def test_deliveries_go_oldest_first_and_a_given_up_one_lets_the_next_go(store: Store) -> None:
    first, second = await _rejected(store, "a"), await _rejected(store, "b")
    assert await outbox.route(store, {"hook": {"dataset_rejected"}, "mail": {"job_failed"}}) == 2
    assert await outbox.route(store, {"hook": {"dataset_rejected"}}) == 0  # routed once
    delivery = await outbox.next_delivery(store, "hook")
    assert delivery is not None
    assert delivery.notification.payload["dataset_id"] == first
    assert await outbox.next_delivery(store, "mail") is None
    await outbox.record_attempt(store, delivery, sent=False, status=503, error="down", retry_at=1.0)
    again = await outbox.next_delivery(store, "hook")
    assert again is not None
    assert again.notification.id == delivery.notification.id  # in order: the same one again
    assert again.attempts == 1
    health = await outbox.health(store)
    assert health[0]["pending"] == 2
    assert health[0]["last_status"] == 503
    assert outbox.warnings(health) == []  # one failure is not yet "keeps failing"
    for _ in range(3):
        await outbox.record_attempt(
            store, again, sent=False, status=503, error="down", retry_at=2.0
        )
    assert "destination hook" in outbox.warnings(await outbox.health(store))[0]["message"]
    await outbox.record_attempt(store, again, sent=False, status=None, error="down", retry_at=None)
    last = await outbox.next_delivery(store, "hook")
    assert last is not None
    assert last.notification.payload["dataset_id"] == second
    await outbox.record_attempt(store, last, sent=True, status=200, error=None, retry_at=None)
    assert await outbox.next_delivery(store, "hook") is None
    health = await outbox.health(store)
    assert (health[0]["sent"], health[0]["given_up"], health[0]["pending"]) == (1, 1, 0)
    assert outbox.warnings(health)  # a given-up message stays visible


async def test_a_dedupe_key_tells_a_watched_fact_once(store: Store) -> None:
    for _ in range(2):
        async with store.transaction() as tx:
            await outbox.add(tx, "daemon_blocked", "daemon: disk_full", {}, dedupe="disk:1")
    assert len(await store.read("SELECT * FROM notifications")) == 1
