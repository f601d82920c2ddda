"""The ``/_emulator`` routes: knobs, stats and a state summary for tests and benchmarks.

They need no API key and are never subject to faults, so a test can always
reach them, even while every ``/v1`` request is failing on purpose.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ftd.emulator.apierrors import bad_request
from ftd.emulator.core import CORE
from ftd.emulator.params import json_body
from ftd.emulator.settings import SettingError
from ftd.emulator.traffic import json_response
from ftd.logs import get_logger

if TYPE_CHECKING:
    from aiohttp import web

log = get_logger(__name__)


async def get_config(request: web.Request) -> web.Response:
    return json_response(request.app[CORE].config.as_dict())


async def post_config(request: web.Request) -> web.Response:
    core = request.app[CORE]
    changes = await json_body(request)
    try:
        changed = core.config.update(changes)
    except SettingError as exc:
        raise bad_request(str(exc), param=exc.key) from exc
    log.info("config_changed", keys=changed, **{k: changes[k] for k in changed})
    return json_response(core.config.as_dict())


async def get_stats(request: web.Request) -> web.Response:
    """The counts; with ``?chat_bodies=1`` also each chat body's digest and sends, so the
    counts of an emulator's several lives (``--state``, restarted) can be added up."""
    stats = request.app[CORE].traffic.stats
    snapshot = stats.snapshot()
    if request.query.get("chat_bodies") == "1":
        snapshot["chat_bodies"] = {key.hex(): n for key, n in stats.chat_bodies.items()}
    return json_response(snapshot)


async def reset_stats(request: web.Request) -> web.Response:
    stats = request.app[CORE].traffic.stats
    stats.reset()
    return json_response(stats.snapshot())


async def get_state(request: web.Request) -> web.Response:
    core = request.app[CORE]
    core.jobs.settle_all()
    now = core.clock()
    jobs = Counter(core.jobs.status(job) for job in core.state.jobs.values())
    files = Counter(record.purpose for record in core.state.live_files(now))
    uploads = Counter(core.uploads.status(u) for u in core.state.uploads.values())
    models = sum(1 for name, _job, _t in core.jobs.made_models(now) if core.jobs.find_model(name))
    return json_response(
        {
            "files": dict(files),
            "jobs": dict(jobs),
            "uploads": dict(uploads),
            "fine_tuned_models": models,
            # Read without the answer delay: a test sees a batch its client has not heard of.
            "batch_metadata": [b.metadata or {} for b in core.batches.batches.values()],
            "persistent": core.settings.state_path is not None,
        }
    )


async def retire_model(request: web.Request) -> web.Response:
    """Shut a model down now, as a provider does on a base's shutdown date: every
    request naming it answers 404 ``model_not_found`` from then on."""
    core = request.app[CORE]
    body = await json_body(request)
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise bad_request("model: the name of the model to retire", param="model")
    core.models.retire(name)
    log.info("model_retired", model=name)
    return json_response({"retired": sorted(core.models.retired)})


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_emulator/config", get_config)
    r.add_post("/_emulator/config", post_config)
    r.add_get("/_emulator/stats", get_stats)
    r.add_post("/_emulator/reset_stats", reset_stats)
    r.add_get("/_emulator/state", get_state)
    r.add_post("/_emulator/retire", retire_model)
