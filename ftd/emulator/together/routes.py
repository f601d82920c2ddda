"""The Together routes under ``/v1``, answered in the shapes of the Together spec."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ftd import catalog as ftd_catalog
from ftd.emulator.apierrors import bad_request
from ftd.emulator.params import json_body
from ftd.emulator.together import catalog
from ftd.emulator.together.batches import add_batch_routes
from ftd.emulator.together.files import file_object, upload
from ftd.emulator.together.jobs import DPO, FULL, SFT, iso
from ftd.emulator.together.service import TOGETHER, TogetherService
from ftd.emulator.traffic import json_response
from ftd.emulator.trainingdata import DatasetProblem

USER_LIMIT = 1000.0  # dollars: the emulated account's credit limit in estimate-price
MAX_FILE_LIST = 10_000


def _together(request: web.Request) -> TogetherService:
    return request.app[TOGETHER]


# -- files ------------------------------------------------------------------------------
async def upload_file(request: web.Request) -> web.Response:
    core = _together(request).core
    return json_response(file_object(await upload(core, request)))


async def list_files(request: web.Request) -> web.Response:
    core = _together(request).core
    records, _more = core.files.list(None, MAX_FILE_LIST, "desc", None)
    return json_response({"data": [file_object(r) for r in records]})


async def retrieve_file(request: web.Request) -> web.Response:
    core = _together(request).core
    return json_response(file_object(core.files.get(request.match_info["id"])))


async def file_content(request: web.Request) -> web.StreamResponse:
    files = _together(request).core.files
    return files.content(files.get(request.match_info["id"]))


async def delete_file(request: web.Request) -> web.Response:
    core = _together(request).core
    record = core.files.get(request.match_info["id"])
    core.files.delete(record, referenced=core.referenced_by_job(record.id))
    return json_response({"id": record.id, "deleted": True})


# -- fine-tunes -------------------------------------------------------------------------
async def create_job(request: web.Request) -> web.Response:
    together = _together(request)
    job = await together.jobs.create(await json_body(request))
    _job, extra = together.jobs.get(job.id)
    return json_response(together.view.truncated(job, extra))


async def list_jobs(request: web.Request) -> web.Response:
    together = _together(request)
    data = [together.view.truncated(job, extra) for job, extra in reversed(together.jobs.all())]
    return json_response({"data": data})


async def retrieve_job(request: web.Request) -> web.Response:
    together = _together(request)
    job, extra = together.jobs.get(request.match_info["id"])
    return json_response(together.view.full(job, extra))


async def cancel_job(request: web.Request) -> web.Response:
    together = _together(request)
    job = together.jobs.cancel(request.match_info["id"])
    _job, extra = together.jobs.get(job.id)
    return json_response(together.view.truncated(job, extra))


async def list_events(request: web.Request) -> web.Response:
    together = _together(request)
    job, extra = together.jobs.get(request.match_info["id"])
    return json_response({"data": together.view.public_events(job, extra)})


async def list_checkpoints(request: web.Request) -> web.Response:
    together = _together(request)
    job, extra = together.jobs.get(request.match_info["id"])
    return json_response({"data": together.view.checkpoints(job, extra)})


async def job_metrics(request: web.Request) -> web.Response:
    together = _together(request)
    job, extra = together.jobs.get(request.match_info["id"])
    raw = await request.read()
    window: Any = {}
    if raw.strip():
        try:
            window = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise bad_request("The request body must be JSON") from None
        if not isinstance(window, dict):
            raise bad_request("The request body must be a JSON object")
    low, high = window.get("global_step_from", 0), window.get("global_step_to", 2**62)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
        raise bad_request("global_step_from and global_step_to must be integers")
    return json_response({"metrics": together.jobs.metrics(job, extra, low, high)})


async def estimate_price(request: web.Request) -> web.Response:
    together = _together(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    base = catalog.BASES.get(body.get("model") or "")
    if base is None:
        raise bad_request(
            f"Model '{body.get('model')}' is not supported for fine-tuning.", param="model"
        )
    method = body.get("training_method") or {"method": SFT}
    dpo = isinstance(method, dict) and method.get("method") == DPO
    kind = body.get("training_type") or {}
    full = isinstance(kind, dict) and kind.get("type") == FULL
    n_epochs = body.get("n_epochs", 1)
    n_evals = body.get("n_evals", 0)
    if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs < 1:
        raise bad_request("n_epochs must be a positive integer", param="n_epochs")
    if isinstance(n_evals, bool) or not isinstance(n_evals, int) or n_evals < 0:
        raise bad_request("n_evals must be a non-negative integer", param="n_evals")
    core_method = ftd_catalog.DPO if dpo else ftd_catalog.SUPERVISED
    counts = []
    for name in ("training_file", "validation_file"):
        file_id = body.get(name)
        if file_id is None:
            counts.append(0)
            continue
        if (
            not isinstance(file_id, str)
            or together.core.state.live_file(file_id, together.core.clock()) is None
        ):
            raise bad_request(f"File {file_id} was not found.", param=name)
        summary = await together.core.jobs.datasets.inspect(file_id, core_method, base.name, name)
        counts.append(0 if isinstance(summary, DatasetProblem) else summary.billable_tokens)
    train_tokens = counts[0] * n_epochs
    eval_tokens = counts[1] * n_evals
    price = (train_tokens + eval_tokens) / 1e6 * catalog.price_per_m(base, full, dpo)
    return json_response(
        {
            "estimated_total_price": round(price, 6),
            "allowed_to_proceed": price <= USER_LIMIT,
            "user_limit": USER_LIMIT,
            "estimated_train_token_count": train_tokens,
            "estimated_eval_token_count": eval_tokens,
        }
    )


async def supported_models(request: web.Request) -> web.Response:
    return json_response({"models": sorted(catalog.BASES)})


async def model_limits(request: web.Request) -> web.Response:
    name = request.query.get("model_name")
    if not name:
        raise bad_request("model_name is required", param="model_name")
    base = catalog.BASES.get(name)
    if base is None:
        # The spec's 404 body for this route is {"message": ...}, not ErrorData.
        return json_response({"message": f"Model {name} is not available for fine-tuning."}, 404)
    limits: dict[str, Any] = {
        "model_name": base.name,
        "lora_training": {
            "max_batch_size": base.max_batch_size,
            "max_batch_size_dpo": base.max_batch_size_dpo,
            "min_batch_size": base.min_batch_size,
            "max_rank": base.max_rank,
            "target_modules": list(catalog.TARGET_MODULES),
        },
        "max_num_epochs": catalog.MAX_EPOCHS,
        "max_num_evals": catalog.MAX_EVALS,
        "max_learning_rate": catalog.MAX_LEARNING_RATE,
        "min_learning_rate": catalog.MIN_LEARNING_RATE,
        "supports_vision": False,
        "supports_tools": True,
        "supports_reasoning": False,
        "merge_output_lora": True,
    }
    if base.full_training:
        limits["full_training"] = {
            "max_batch_size": base.max_batch_size,
            "max_batch_size_dpo": base.max_batch_size_dpo,
            "min_batch_size": base.min_batch_size,
        }
    return json_response(limits)


# -- models, hardware, endpoints and chat -------------------------------------------------
async def list_models(request: web.Request) -> web.Response:
    together = _together(request)
    created = 1_721_692_800  # 2024-07-23, the Llama 3.1 release
    data: list[dict[str, Any]] = [
        {
            "id": name,
            "object": "model",
            "created": created,
            "type": "chat",
            "organization": name.split("/")[0],
            "context_length": base.context_length,
        }
        for name, base in sorted(catalog.BASES.items())
    ]
    for job, extra in together.jobs.all():
        if together.jobs.status(job) == "completed":
            data.append(
                {
                    "id": extra.output_name,
                    "object": "model",
                    "created": int(job.created_at),
                    "type": "chat",
                    "organization": together.core.settings.organization,
                }
            )
    return json_response(data)


async def list_hardware(request: web.Request) -> web.Response:
    now = iso(_together(request).core.clock())
    data = [
        {
            "object": "hardware",
            "id": name,
            "pricing": {"cents_per_minute": cents},
            "specs": {"gpu_type": gpu, "gpu_link": "sxm", "gpu_memory": memory, "gpu_count": count},
            "availability": {"status": "available"},
            "updated_at": now,
        }
        for name, (cents, gpu, memory, count) in sorted(catalog.HARDWARE.items())
    ]
    return json_response({"object": "list", "data": data})


async def create_endpoint(request: web.Request) -> web.Response:
    together = _together(request)
    record = together.endpoints.create(await json_body(request))
    return json_response(together.endpoints.render(record))


async def list_endpoints(request: web.Request) -> web.Response:
    together = _together(request)
    kind = request.query.get("type")
    if kind is not None and kind not in ("dedicated", "serverless"):
        raise bad_request("type must be dedicated or serverless", param="type")
    data = []
    if kind != "serverless":
        data = [
            together.endpoints.render(r, listed=True) for r in together.store.endpoints.values()
        ]
    return json_response({"object": "list", "data": data})


async def retrieve_endpoint(request: web.Request) -> web.Response:
    together = _together(request)
    return json_response(
        together.endpoints.render(together.endpoints.get(request.match_info["endpointId"]))
    )


async def delete_endpoint(request: web.Request) -> web.Response:
    _together(request).endpoints.delete(request.match_info["endpointId"])
    return web.Response(status=204)


async def chat(request: web.Request) -> web.Response:
    together = _together(request)
    body = await together.chat.complete(await json_body(request))
    body["prompt"] = []  # required by ChatCompletionResponse; empty without ``echo``
    for choice in body["choices"]:
        choice.pop("logprobs", None)  # the spec's LogprobsPart admits no null here
        choice["message"].pop("refusal", None)
        choice["message"].pop("annotations", None)
    usage = body["usage"]
    body["usage"] = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    body.pop("service_tier", None)
    body.pop("system_fingerprint", None)
    return json_response(body)


# -- admin ---------------------------------------------------------------------------------
async def admin_endpoints(request: web.Request) -> web.Response:
    together = _together(request)
    counters = together.store.counters
    return json_response(
        {
            "live": [together.endpoints.render(r) for r in together.store.endpoints.values()],
            "creates": counters.endpoint_creates,
            "deletes": counters.endpoint_deletes,
        }
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/files/upload", upload_file)
    r.add_get("/v1/files", list_files)
    r.add_get("/v1/files/{id}", retrieve_file)
    r.add_get("/v1/files/{id}/content", file_content)
    r.add_delete("/v1/files/{id}", delete_file)
    r.add_post("/v1/fine-tunes", create_job)
    r.add_get("/v1/fine-tunes", list_jobs)
    r.add_post("/v1/fine-tunes/estimate-price", estimate_price)
    r.add_get("/v1/fine-tunes/models/supported", supported_models)
    r.add_get("/v1/fine-tunes/models/limits", model_limits)
    r.add_get("/v1/fine-tunes/{id}", retrieve_job)
    r.add_post("/v1/fine-tunes/{id}/cancel", cancel_job)
    r.add_get("/v1/fine-tunes/{id}/events", list_events)
    r.add_get("/v1/fine-tunes/{id}/checkpoints", list_checkpoints)
    r.add_get("/v1/fine-tunes/{id}/metrics", job_metrics)
    r.add_get("/v1/models", list_models)
    r.add_get("/v1/hardware", list_hardware)
    r.add_post("/v1/endpoints", create_endpoint)
    r.add_get("/v1/endpoints", list_endpoints)
    r.add_get("/v1/endpoints/{endpointId}", retrieve_endpoint)
    r.add_delete("/v1/endpoints/{endpointId}", delete_endpoint)
    r.add_post("/v1/chat/completions", chat)
    add_batch_routes(app)
    r.add_get("/_emulator/endpoints", admin_endpoints)
