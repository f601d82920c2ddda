"""Commands about recorded answers: ``record`` one model, list them, read one back.

A recording's items are a dataset's test split (``dataset``), a file the
caller read with their own rights (``test_items``, kept in a private file of
the daemon's as ``eval`` keeps its own), or, given neither, the test split
of the dataset that trained the model.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.control.handlers import args as arg
from ftd.control.handlers.show import find_dataset
from ftd.control.protocol import INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE
from ftd.control.server import CommandError
from ftd.errors import FtdError
from ftd.evaluation.batch.source import count_items
from ftd.evaluation.service import MAX_TEST_ITEMS_BYTES, REQUESTS_DIR, _keep_private
from ftd.profiles import DEFAULT_PROFILE
from ftd.store import recordings as rows_of

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts
    from ftd.store import Store


async def _test_split(store: Store, dataset_id: int) -> str | None:
    rows = await store.read(
        "SELECT path FROM splits WHERE dataset_id = ? AND side = 'test' AND examples > 0",
        (dataset_id,),
    )
    return str(rows[0]["path"]) if rows else None


async def record(parts: Parts, call: Call) -> dict[str, Any]:
    recorder = parts.recorder
    if recorder is None:
        raise CommandError(UNAVAILABLE, "recording is not running in this daemon")
    model = arg.required_text(call.args, "model")
    name = arg.text(call.args, "name", required=False)
    if name is not None and (not name.strip() or len(name) > 200):
        raise CommandError(INVALID_ARGUMENT, "name: 1-200 characters")
    dataset_key = arg.text(call.args, "dataset", required=False)
    items = call.args.get("test_items")
    if items is not None and not isinstance(items, str):
        raise CommandError(INVALID_ARGUMENT, "test_items: must be the test file's text")
    if items is not None and dataset_key is not None:
        raise CommandError(INVALID_ARGUMENT, "give a dataset or test items, not both")
    store = parts.store
    jobs = await store.read(
        "SELECT job_id, provider, dataset_id FROM jobs WHERE fine_tuned_model = ? "
        "ORDER BY id DESC LIMIT 1",
        (model,),
    )
    job = jobs[0] if jobs else None
    profile = arg.text(call.args, "provider", required=False)
    profile = profile or (str(job["provider"]) if job else DEFAULT_PROFILE)
    if profile not in parts.settings.profiles:
        known = ", ".join(sorted(parts.settings.profiles))
        raise CommandError(INVALID_ARGUMENT, f"provider: no profile {profile!r} (known: {known})")
    dataset_id: int | None = None
    if items is not None:
        if len(items.encode("utf-8", errors="replace")) > MAX_TEST_ITEMS_BYTES:
            raise CommandError(INVALID_ARGUMENT, f"test_items: over {MAX_TEST_ITEMS_BYTES:,} bytes")
        folder = parts.settings.paths.state_dir / REQUESTS_DIR
        test_file = str(await anyio.to_thread.run_sync(_keep_private, folder, items))
    else:
        if dataset_key is not None:
            found = await find_dataset(store, dataset_key)
            if found is None:
                raise CommandError(NOT_FOUND, f"no dataset {dataset_key!r} (try `ftd datasets`)")
            dataset_id = int(found["id"])
        elif job is not None:
            dataset_id = int(job["dataset_id"])
        else:
            raise CommandError(
                INVALID_ARGUMENT,
                f"{model} is not a model ftd made: name a dataset (--dataset) or a file (--file)",
            )
        split = await _test_split(store, dataset_id)
        if split is None:
            raise CommandError(INVALID_ARGUMENT, f"dataset {dataset_id} held out no test items")
        test_file = split
    settings = parts.settings.evaluation
    try:
        read = await anyio.to_thread.run_sync(
            partial(count_items, Path(test_file), max_items=settings.max_items, reinforcement=False)
        )
    except FtdError as exc:
        raise CommandError(INVALID_ARGUMENT, str(exc)) from None
    dataset_settings = None
    if dataset_id is not None:
        rows = await store.read("SELECT settings FROM datasets WHERE id = ?", (dataset_id,))
        dataset_settings = rows[0]["settings"] if rows else None
    try:
        row = await recorder.request(
            model=model,
            name=name.strip() if name else None,
            test_file=test_file,
            provider=profile,
            dataset_id=dataset_id,
            job_id=str(job["job_id"]) if job and job["dataset_id"] == dataset_id else None,
            dataset_settings=dataset_settings,
        )
    except FtdError as exc:
        raise CommandError(INVALID_ARGUMENT, str(exc)) from None
    return {"recording": row.brief(), "items": read}


async def _with_tally(store: Store, row: rows_of.RecordingRow) -> dict[str, Any]:
    return {**row.brief(), "items": await rows_of.tally(store, row.id)}


async def recordings(parts: Parts, call: Call) -> dict[str, Any]:
    store = parts.store
    listed = [await _with_tally(store, row) for row in await rows_of.every(store)]
    unrecorded = await parts.recorder.still_unrecorded() if parts.recorder is not None else []
    return {"recordings": listed, "unrecorded": unrecorded}


async def recording(parts: Parts, call: Call) -> dict[str, Any]:
    """One recording with every answer: what `ftd recordings export` writes."""
    name = arg.required_text(call.args, "name")
    row = await rows_of.named(parts.store, name)
    if row is None:
        raise CommandError(NOT_FOUND, f"no recording named {name!r} (try `ftd recordings`)")
    answers = await rows_of.answers(parts.store, row.id)
    return {
        "recording": {**await _with_tally(parts.store, row), "params": row.params},
        "answers": [a.as_dict() for a in answers],
    }


def unrecorded_warnings(unrecorded: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``ftd status``'s lines about models whose base retires before they are recorded."""
    warnings = []
    for model in unrecorded:
        held = model.get("recording")
        state = f"its recording is {held['status']}" if held else "it is not recorded"
        warnings.append(
            {
                "kind": "model_retiring_unrecorded",
                "message": f"{model['model']} stops answering on {model['shutdown_date']} "
                f"({model['days_left']} days, with its base {model['base']}) and {state}: "
                f"`ftd record {model['model']}`",
            }
        )
    return warnings
