"""The daemon's side of every control command, and which of them change things."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ftd import __version__
from ftd.control import protocol
from ftd.control.handlers import (
    compare,
    export,
    follow,
    lists,
    models,
    notify,
    recordings,
    report,
    runs,
    show,
    status,
    steer,
)
from ftd.control.server import Command

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts


async def _hello(parts: Parts, call: Call) -> dict[str, Any]:
    return {"version": __version__, "protocol": protocol.VERSION, "pid": parts.pid}


def commands(parts: Parts) -> dict[str, Command]:
    def read(handler: Any) -> Command:
        return Command(functools.partial(handler, parts))

    def change(handler: Any) -> Command:
        return Command(functools.partial(handler, parts), changes=True)

    def stream(handler: Any) -> Command:
        return Command(functools.partial(handler, parts), streams=True)

    return {
        "hello": read(_hello),
        "status": read(status.status),
        "datasets": read(lists.datasets),
        "jobs": read(lists.jobs),
        "models": read(lists.models),
        "evaluations": read(lists.evaluations),
        "show": read(show.show),
        "events": read(show.events),
        "report": read(report.report),
        "compare": read(compare.compare),
        "follow": stream(follow.follow_events),
        "watch": stream(follow.watch),
        "cancel": change(steer.cancel),
        "pause": change(steer.pause),
        "resume": change(steer.resume),
        "retry": change(steer.retry),
        "approve": change(steer.approve),
        "adopt": change(steer.adopt),
        "reload": change(steer.reload),
        "ask": change(models.ask),
        "eval": change(models.evaluate),
        "delete_model": change(models.delete_model),
        "keep": change(steer.keep),
        "notify_test": change(notify.notify_test),
        "record": change(recordings.record),
        "recordings": read(recordings.recordings),
        "recording": read(recordings.recording),
        "export": read(export.export),
        "export_split": read(export.export_split),
        "train": change(runs.train),
    }
