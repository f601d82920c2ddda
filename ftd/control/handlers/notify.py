"""``notify_test``: a sample of each event a destination wants, sent now, and what it answered.

Sent from the daemon, whose environment and systemd credentials hold the
secrets; the answer carries what each destination said, never a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ftd.control.handlers import args as arg
from ftd.control.protocol import NOT_FOUND
from ftd.control.server import CommandError
from ftd.logs import get_logger
from ftd.notify.samples import sample
from ftd.notify.send import deliver

if TYPE_CHECKING:
    from ftd.config.notify import NotifyDestination
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts

log = get_logger("ftd.notify")


async def notify_test(parts: Parts, call: Call) -> dict[str, Any]:
    name = arg.text(call.args, "destination", required=False)
    configured = {d.name: d for d in parts.settings.notify}
    if name is not None and name not in configured:
        known = ", ".join(configured) or "none"
        raise CommandError(NOT_FOUND, f"no [[notify]] destination {name!r}; configured: {known}")
    chosen = [configured[name]] if name is not None else list(configured.values())
    results: dict[str, list[dict[str, Any]]] = {d.name: [] for d in chosen}

    async def one(destination: NotifyDestination) -> None:
        for kind in destination.events:
            answer = await deliver(destination, sample(kind))
            log.info(
                "notification_test",
                destination=destination.name,
                about=kind,
                sent=answer.ok,
                status=answer.status,
            )
            results[destination.name].append(
                {
                    "event": kind,
                    "sent": answer.ok,
                    "status": answer.status,
                    "answer": answer.body[:500],
                    "seconds": round(answer.seconds, 3),
                }
            )

    async with anyio.create_task_group() as tg:
        for destination in chosen:
            tg.start_soon(one, destination)
    return {
        "destinations": [
            {"name": n, "kind": configured[n].kind, "results": r} for n, r in results.items()
        ]
    }
