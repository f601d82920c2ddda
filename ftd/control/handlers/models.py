"""Commands about models: try one (``ask``), evaluate one (``eval``), delete one ftd made.

The daemon holds the API key, so people and scripts use models through it
without ever seeing the key.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio

from ftd.control.handlers import args as arg
from ftd.control.handlers.steer import _provider_refusal
from ftd.control.protocol import CONFLICT, INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE
from ftd.control.server import CommandError
from ftd.errors import FtdError, RemoteError
from ftd.logs import get_logger
from ftd.providers.kinds import backoff

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts

log = get_logger("ftd.control.models")
MAX_PROMPT_CHARS = 32_000
ASK_MAX_TOKENS = 1024


async def ask(parts: Parts, call: Call) -> dict[str, Any]:
    model = arg.required_text(call.args, "model")
    prompt = arg.required_text(call.args, "prompt")
    system = arg.text(call.args, "system", required=False)
    if len(prompt) + len(system or "") > MAX_PROMPT_CHARS:
        raise CommandError(INVALID_ARGUMENT, f"prompt over {MAX_PROMPT_CHARS:,} characters")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    profile = arg.text(call.args, "provider", required=False)
    try:
        provider = parts.settings.profile(profile)
        remote = parts.providers.get(profile)
    except FtdError as exc:
        raise CommandError(INVALID_ARGUMENT, str(exc)) from None
    started = time.perf_counter()
    attempt = 0
    while True:
        try:
            answer = await remote.chat(
                model=model,
                messages=messages,
                params={"max_completion_tokens": ASK_MAX_TOKENS},
                request_timeout=provider.timeout_seconds,
            )
            break
        except RemoteError as exc:
            if not exc.retryable or attempt >= provider.max_retries:
                log.warning("ask_failed", model=model, kind=exc.kind, attempts=attempt + 1)
                raise _provider_refusal(exc, model) from None
            delay = exc.retry_after if exc.retry_after is not None else backoff(attempt, 0.5, 8.0)
            attempt += 1
            log.info("ask_retry", model=model, kind=exc.kind, attempt=attempt, delay=delay)
            await anyio.sleep(delay)
    return {
        "model": answer.model,
        "answer": answer.text,
        "finish_reason": answer.finish_reason,
        "usage": answer.usage,
        "seconds": round(time.perf_counter() - started, 3),
        "attempts": attempt + 1,
    }


async def evaluate(parts: Parts, call: Call) -> dict[str, Any]:
    if parts.evaluations is None:
        raise CommandError(UNAVAILABLE, "evaluation is not running in this daemon")
    model = arg.required_text(call.args, "model")
    recording = arg.text(call.args, "recording", required=False)
    if "test_items" not in call.args and recording is None:
        # The daemon opens no path for a caller: it could read what they may not,
        # or wait for ever on a FIFO. The client sends what it read itself.
        raise CommandError(
            INVALID_ARGUMENT,
            "test_items: send the test file's content (ftd eval reads it with your rights); "
            "the daemon does not open paths for its callers",
        )
    items = call.args.get("test_items")
    if items is not None and not isinstance(items, str):
        raise CommandError(INVALID_ARGUMENT, "test_items: must be the test file's text")
    base = arg.text(call.args, "base_model", required=False)
    graders = arg.texts(call.args, "graders")
    mode = arg.text(call.args, "mode", required=False)
    try:
        evaluation_id = await parts.evaluations.request(
            model=model,
            test_items=items,
            base_model=base,
            graders=graders,
            recording=recording,
            mode=mode,
        )
    except FtdError as exc:
        raise CommandError(INVALID_ARGUMENT, str(exc)) from None
    return {"evaluation_id": evaluation_id, "id": f"eval-{evaluation_id}", "model": model}


async def delete_model(parts: Parts, call: Call) -> dict[str, Any]:
    model = arg.required_text(call.args, "model")
    store = parts.store
    rows = await store.read(
        "SELECT job_id, model_deleted_at, provider FROM jobs WHERE fine_tuned_model = ?", (model,)
    )
    checkpoint = await store.read(
        "SELECT c.job_id, j.provider FROM job_checkpoints c JOIN jobs j USING (job_id) "
        "WHERE c.model = ?",
        (model,),
    )
    if not rows and not checkpoint:
        raise CommandError(NOT_FOUND, f"{model!r} is not a model ftd made (see `ftd models`)")
    if rows and rows[0]["model_deleted_at"] is not None:
        raise CommandError(CONFLICT, f"{model} was deleted already")
    try:
        profile = (rows or checkpoint)[0]["provider"]
        deleted = await parts.providers.get(profile).delete_model(model)
    except RemoteError as exc:
        raise _provider_refusal(exc, model) from None
    if not deleted:
        raise CommandError(CONFLICT, f"the provider did not delete {model}")
    if rows:
        async with store.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET model_deleted_at = ? WHERE fine_tuned_model = ?", (tx.now, model)
            )
            tx.note("model_deleted", model=model, job_id=rows[0]["job_id"], by=call.peer.uid)
    else:
        log.info("model_deleted", model=model, job_id=checkpoint[0]["job_id"], by=call.peer.uid)
    return {"model": model, "deleted": True}
