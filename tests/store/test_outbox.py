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


async def test_a_message_sent_from_memory_is_recorded_sent_where_it_was_and_open_elsewhere(
    store: Store,
) -> None:
    blocked = outbox.Notification(0, "daemon_blocked", "daemon: disk_full", {"reason": "x"}, 5.0)
    told = {
        "hook": outbox.Told(6.0, sent=True, status=200, error=None, attempts=1),
        "mail": outbox.Told(6.0, sent=False, status=None, error="refused", attempts=2),
    }
    for expected in (True, False):  # recorded once: a second record is refused by its key
        async with store.transaction() as tx:
            recorded = await outbox.add_told(
                tx, blocked, dedupe="blocked:1", wanting={"hook", "mail", "slack"}, told=told
            )
        assert recorded is expected
    assert await outbox.route(store, {"hook": {"daemon_blocked"}}) == 0  # routed already
    assert await outbox.next_delivery(store, "hook") is None  # a restart does not resend it
    mail = await outbox.next_delivery(store, "mail")
    assert mail is not None
    assert mail.attempts == 2
    assert mail.notification.created_at == 5.0
    slack = await outbox.next_delivery(store, "slack")
    assert slack is not None
    assert slack.attempts == 0


async def test_a_removed_destination_has_its_open_deliveries_dropped_and_kept(
    store: Store,
) -> None:
    await _rejected(store, "a")
    await _rejected(store, "b")
    await outbox.route(store, {"hook": {"dataset_rejected"}, "gone": {"dataset_rejected"}})
    first = await outbox.next_delivery(store, "gone")
    assert first is not None
    await outbox.record_attempt(store, first, sent=True, status=200, error=None, retry_at=None)
    for _ in range(outbox.FAILING_AFTER):
        second = await outbox.next_delivery(store, "gone")
        assert second is not None
        await outbox.record_attempt(
            store, second, sent=False, status=503, error="down", retry_at=1.0
        )
    assert [w["message"] for w in outbox.warnings(await outbox.health(store))]

    assert await outbox.drop_removed(store, {"hook"}, "removed") == {"gone": 1}
    assert await outbox.drop_removed(store, {"hook"}, "removed") == {}  # once
    assert await outbox.next_delivery(store, "gone") is None
    assert await outbox.next_delivery(store, "hook") is not None  # the kept one waits on
    health = {h["destination"]: h for h in await outbox.health(store)}
    gone = health["gone"]
    assert (gone["pending"], gone["sent"], gone["dropped"], gone["last_error"]) == (0, 1, 1, None)
    assert outbox.warnings(list(health.values())) == []
    rows = await store.read(
        "SELECT dropped_reason, sent_at FROM notification_deliveries WHERE destination = 'gone' "
        "ORDER BY notification_id"
    )
    assert [(r["dropped_reason"], r["sent_at"] is None) for r in rows] == [
        (None, False),
        ("removed", True),
    ]


async def test_status_does_not_warn_of_a_destination_no_longer_configured(store: Store) -> None:
    await _rejected(store, "a")
    await outbox.route(store, {"gone": {"dataset_rejected"}})
    delivery = await outbox.next_delivery(store, "gone")
    assert delivery is not None
    await outbox.record_attempt(store, delivery, sent=False, status=500, error="x", retry_at=None)
    health = await outbox.health(store)
    assert outbox.warnings(health, {"gone"})  # given up on while configured: shown
    assert outbox.warnings(health, {"hook"}) == []
