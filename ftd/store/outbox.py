"""The notification outbox: what to tell people, written with the change it tells of.

A state change and its notification commit in one transaction, so a crash
can lose neither one without the other: the notifier sends what the outbox
holds, and a restart sends what was not sent. Each notification fans out to
one delivery per configured destination that wants its kind, made when the
notifier first reads it (the configuration of that moment decides); a
delivery is done when sent (a 2xx answer) or given up after its attempts.

Notifications raised by watching rather than by a change (a deployment still
running, a model retiring, the daemon blocked) carry a ``dedupe`` key, so the
same fact is told once however often it is seen.

A delivery whose destination left the configuration is dropped, not deleted:
it keeps its row with when and why, and no longer waits nor counts as
failing. A destination that comes back under the same name starts afresh,
as any added one does: what was dropped stays dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd.store import states

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from ftd.store.db import Store, Tx

FIRST_ERRORS = 5
MESSAGE_CHARS = 2000
FAILING_AFTER = 3  # tries of one message before status calls its destination failing
_JOB_KINDS = {
    states.JOB_SUCCEEDED: "job_succeeded",
    states.JOB_FAILED: "job_failed",
    states.JOB_CANCELLED: "job_cancelled",
}


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    notification: Notification
    destination: str
    attempts: int
    next_attempt_at: float


async def add(
    tx: Tx, kind: str, subject: str, payload: Mapping[str, Any], *, dedupe: str | None = None
) -> bool:
    """Queue a notification in ``tx``; False when its dedupe key was told already."""
    cursor = await tx.execute(
        "INSERT OR IGNORE INTO notifications (kind, subject, payload, dedupe, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (kind, subject, json.dumps(payload, default=str), dedupe, tx.now),
    )
    added = cursor.rowcount == 1
    if added:
        tx.note("notification_queued", kind=kind, subject=subject)
    return added


# ----------------------------------------------------------------------------- from changes


async def on_change(tx: Tx, entity: str, entity_id: int, new: str) -> None:
    """The notification a state change calls for, if any, in the change's own transaction."""
    if entity == "dataset" and new in (states.REJECTED, states.AWAITING_APPROVAL, states.BLOCKED):
        await _dataset(tx, entity_id, new)
    elif entity == "job" and new in _JOB_KINDS:
        await _job(tx, entity_id, new)


async def _dataset(tx: Tx, dataset_id: int, state: str) -> None:
    row = await tx.one(
        "SELECT name, report, error, estimated_cost_usd FROM datasets WHERE id = ?", (dataset_id,)
    )
    if row is None:
        return
    report = _json(row["report"])
    base: dict[str, Any] = {"dataset_id": dataset_id, "dataset": row["name"]}
    subject = f"dataset {dataset_id} ({row['name']})"
    if state == states.REJECTED:
        listed = report.get("errors")
        errors: list[Any] = listed if isinstance(listed, list) else []
        first = [_error_line(e) for e in errors[:FIRST_ERRORS]]
        total = sum(int(e.get("count", 1)) if isinstance(e, dict) else 1 for e in errors)
        await add(tx, "dataset_rejected", subject, {**base, "errors": total, "first_errors": first})
    elif state == states.AWAITING_APPROVAL:
        found = report.get("approval")
        approval: dict[str, Any] = found if isinstance(found, dict) else {}
        payload = {
            **base,
            "training_usd": approval.get("training_usd", row["estimated_cost_usd"]),
            "evaluation_usd": approval.get("evaluation_usd"),
            "limit_usd": approval.get("limit_usd"),
            "reason": approval.get("reason"),
            "approve_command": f"ftd approve {dataset_id}",
        }
        await add(tx, "approval_waiting", subject, payload)
    else:
        message = _clip(row["error"]) or "refused by the provider"
        payload = {**base, "reason": "provider_refusing", "message": message}
        await add(tx, "daemon_blocked", subject, payload)


async def _job(tx: Tx, row_id: int, status: str) -> None:
    row = await tx.one(
        "SELECT jobs.job_id, jobs.model, jobs.fine_tuned_model, jobs.error_code, "
        "jobs.error_message, jobs.trained_tokens, jobs.cost_usd, jobs.dataset_id, "
        "datasets.name AS dataset FROM jobs LEFT JOIN datasets ON datasets.id = jobs.dataset_id "
        "WHERE jobs.id = ?",
        (row_id,),
    )
    if row is None:
        return
    payload: dict[str, Any] = {
        "job_id": row["job_id"],
        "model": row["model"],
        "dataset_id": row["dataset_id"],
        "dataset": row["dataset"],
    }
    if status == states.JOB_SUCCEEDED:
        payload.update(
            fine_tuned_model=row["fine_tuned_model"],
            trained_tokens=row["trained_tokens"],
            cost_usd=row["cost_usd"],
        )
    elif status == states.JOB_FAILED:
        payload.update(error_code=row["error_code"], message=_clip(row["error_message"]))
    await add(tx, _JOB_KINDS[status], f"job {row['job_id']}", payload)


async def on_evaluation(tx: Tx, evaluation_id: int) -> None:
    """An evaluation that reached a verdict (or ended without one), with its intervals."""
    row = await tx.one(
        "SELECT kind, job_id, model, base_model, status, verdict, summary, error, parent_id "
        "FROM evaluations WHERE id = ?",
        (evaluation_id,),
    )
    if row is None or row["parent_id"] is not None:
        return  # a checkpoint's evaluation is told through its parent's
    summary = _json(row["summary"])
    graders: dict[str, Any] = {}
    found = summary.get("graders")
    for name, grader in (found if isinstance(found, dict) else {}).items():
        if not isinstance(grader, dict):
            continue
        graders[str(name)] = {
            "candidate": _interval(grader.get("candidate")),
            "base": _interval(grader.get("base")),
            "verdict": grader.get("verdict"),
            "reason": grader.get("verdict_reason"),
        }
    payload = {
        "evaluation_id": evaluation_id,
        "job_id": row["job_id"],
        "model": row["model"],
        "base_model": row["base_model"],
        "status": row["status"],
        "verdict": row["verdict"],
        "primary_grader": summary.get("primary_grader"),
        "graders": graders,
        "error": _clip(row["error"]),
    }
    await add(tx, "evaluation_verdict", f"evaluation {evaluation_id}", payload)


# ----------------------------------------------------------------------------- the notifier's side


async def route(store: Store, wants: Mapping[str, Iterable[str]], limit: int = 200) -> int:
    """Fan unrouted notifications out to the destinations that want them; how many were."""
    async with store.transaction() as tx:
        rows = await _rows(
            tx,
            "SELECT id, kind, payload FROM notifications WHERE routed_at IS NULL "
            "ORDER BY id LIMIT ?",
            (limit,),
        )
        for row in rows:
            payload = _json(row["payload"])
            for destination, kinds in wants.items():
                if row["kind"] in kinds and _threshold_fits(payload, destination):
                    await tx.execute(
                        "INSERT OR IGNORE INTO notification_deliveries (notification_id, "
                        "destination, next_attempt_at) VALUES (?, ?, ?)",
                        (row["id"], destination, tx.now),
                    )
            await tx.execute(
                "UPDATE notifications SET routed_at = ? WHERE id = ?", (tx.now, row["id"])
            )
    return len(rows)


def _threshold_fits(payload: Mapping[str, Any], destination: str) -> bool:
    """Watched facts are raised per threshold: only the destinations that chose it get them."""
    chosen = payload.get("for_destinations")
    return not isinstance(chosen, list) or destination in chosen


async def next_delivery(store: Store, destination: str) -> Delivery | None:
    """The oldest open delivery of a destination: its messages go in order, one at a time."""
    rows = await store.read(
        "SELECT d.attempts, d.next_attempt_at, n.id, n.kind, n.subject, n.payload, n.created_at "
        "FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id "
        "WHERE d.destination = ? AND d.sent_at IS NULL AND d.given_up_at IS NULL "
        "AND d.dropped_at IS NULL "
        "ORDER BY d.notification_id LIMIT 1",
        (destination,),
    )
    if not rows:
        return None
    row = rows[0]
    notification = Notification(
        row["id"], row["kind"], row["subject"], _json(row["payload"]), row["created_at"]
    )
    return Delivery(notification, destination, row["attempts"], row["next_attempt_at"])


async def record_attempt(
    store: Store,
    delivery: Delivery,
    *,
    sent: bool,
    status: int | None,
    error: str | None,
    retry_at: float | None,
) -> None:
    """One attempt's outcome: sent, due again at ``retry_at``, or (None) given up."""
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE notification_deliveries SET attempts = attempts + 1, last_status = ?, "
            "last_error = ?, sent_at = ?, given_up_at = ?, next_attempt_at = coalesce(?, "
            "next_attempt_at) WHERE destination = ? AND notification_id = ?",
            (
                status,
                None if error is None else error[:MESSAGE_CHARS],
                tx.now if sent else None,
                tx.now if not sent and retry_at is None else None,
                retry_at,
                delivery.destination,
                delivery.notification.id,
            ),
        )


async def health(store: Store) -> list[dict[str, Any]]:
    """Per destination: what waits, what was given up or dropped, and the last failure."""
    rows = await store.read(
        "SELECT destination, "
        "sum(sent_at IS NULL AND given_up_at IS NULL AND dropped_at IS NULL) AS pending, "
        "sum(given_up_at IS NOT NULL) AS given_up, sum(sent_at IS NOT NULL) AS sent, "
        "sum(dropped_at IS NOT NULL) AS dropped, max(CASE WHEN sent_at IS NULL AND "
        "given_up_at IS NULL AND dropped_at IS NULL THEN attempts END) AS attempts "
        "FROM notification_deliveries GROUP BY destination ORDER BY destination"
    )
    out = []
    for row in rows:
        last = await store.read(
            "SELECT last_error, last_status FROM notification_deliveries WHERE destination = ? "
            "AND attempts > 0 AND sent_at IS NULL AND dropped_at IS NULL "
            "ORDER BY notification_id DESC LIMIT 1",
            (row["destination"],),
        )
        out.append(
            {
                "destination": row["destination"],
                "pending": row["pending"] or 0,
                "sent": row["sent"] or 0,
                "given_up": row["given_up"] or 0,
                "dropped": row["dropped"] or 0,
                "attempts": row["attempts"] or 0,
                "last_error": last[0]["last_error"] if last else None,
                "last_status": last[0]["last_status"] if last else None,
            }
        )
    return out


async def drop_removed(store: Store, configured: Iterable[str], reason: str) -> dict[str, int]:
    """Mark the open deliveries of destinations no longer configured dropped; how many each."""
    names = json.dumps(sorted(configured))
    async with store.transaction() as tx:
        counted = await _rows(
            tx,
            "SELECT destination, count(*) FROM notification_deliveries WHERE sent_at IS NULL "
            "AND given_up_at IS NULL AND dropped_at IS NULL AND destination NOT IN "
            "(SELECT value FROM json_each(?)) GROUP BY destination ORDER BY destination",
            (names,),
        )
        if counted:
            await tx.execute(
                "UPDATE notification_deliveries SET dropped_at = ?, dropped_reason = ? "
                "WHERE sent_at IS NULL AND given_up_at IS NULL AND dropped_at IS NULL AND "
                "destination NOT IN (SELECT value FROM json_each(?))",
                (tx.now, reason[:MESSAGE_CHARS], names),
            )
    return {row[0]: row[1] for row in counted}


@dataclass(frozen=True, slots=True)
class Told:
    """One direct attempt made before the outbox could hold the message."""

    at: float
    sent: bool
    status: int | None
    error: str | None
    attempts: int


async def add_told(
    tx: Tx,
    notification: Notification,
    *,
    dedupe: str,
    wanting: Iterable[str],
    told: Mapping[str, Told],
) -> bool:
    """Record a notification sent from memory: sent where it was, open where it was not.

    Routed at once (the destinations that wanted it when it was sent are the
    ones it is for), so the notifier never sends it again where it was sent.
    False when its dedupe key was recorded already.
    """
    cursor = await tx.execute(
        "INSERT OR IGNORE INTO notifications (kind, subject, payload, dedupe, created_at, "
        "routed_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            notification.kind,
            notification.subject,
            json.dumps(notification.payload, default=str),
            dedupe,
            notification.created_at,
            tx.now,
        ),
    )
    if cursor.rowcount != 1:
        return False
    row_id = cursor.lastrowid
    for destination in sorted(set(wanting) | set(told)):
        attempt = told.get(destination)
        await tx.execute(
            "INSERT INTO notification_deliveries (notification_id, destination, attempts, "
            "next_attempt_at, last_status, last_error, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row_id,
                destination,
                0 if attempt is None else attempt.attempts,
                tx.now,
                None if attempt is None else attempt.status,
                None if attempt is None or attempt.error is None else attempt.error[:MESSAGE_CHARS],
                attempt.at if attempt is not None and attempt.sent else None,
            ),
        )
    tx.note(
        "notification_recorded",
        kind=notification.kind,
        subject=notification.subject,
        sent_to=sorted(d for d, t in told.items() if t.sent),
    )
    return True


def warnings(
    health: list[dict[str, Any]], configured: Collection[str] | None = None
) -> list[dict[str, str]]:
    """``ftd status`` warnings: a destination still failing after a few tries, or given up on.

    A destination no longer ``configured`` is not warned about: its open
    deliveries were dropped, and what it gave up on is history.
    """
    out = []
    for entry in health:
        if configured is not None and entry["destination"] not in configured:
            continue
        failing = entry["pending"] and entry["attempts"] >= FAILING_AFTER
        if not failing and not entry["given_up"]:
            continue
        last = entry["last_error"] or f"status {entry['last_status']}"
        out.append(
            {
                "kind": "notification_failing",
                "message": f"destination {entry['destination']}: {entry['pending']} message(s) "
                f"waiting, {entry['given_up']} given up, {entry['attempts']} tries of the oldest; "
                f"last answer: {last[:200]}",
            }
        )
    return out


# ----------------------------------------------------------------------------- helpers


async def _rows(tx: Tx, sql: str, params: tuple[Any, ...]) -> list[Any]:
    async with tx.db.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:MESSAGE_CHARS]


def _error_line(issue: object) -> str:
    """``line N: message`` from a validation issue (its first sample), as the log says it."""
    if not isinstance(issue, dict):
        return str(issue)[:300]
    samples = issue.get("samples")
    first = samples[0] if isinstance(samples, list) and samples else {}
    first = first if isinstance(first, dict) else {}
    message = str(first.get("message", issue.get("kind", "error")))
    line = first.get("line")
    return (f"line {line}: {message}" if line else message)[:300]


def _interval(value: object) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: value.get(k) for k in ("estimate", "low", "high", "n")}
