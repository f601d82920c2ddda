"""``export ID``: everything ftd learnt of a dataset or a job, for a folder of the caller's.

The daemon gathers the rows (settings, validation, jobs with their events,
metrics and checkpoints, evaluations with their items, recordings with their
answers); the client writes the folder with its own rights and asks for each
split's bytes in chunks (``export_split``), so that no answer has to hold a
large dataset whole.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any

import anyio

from ftd import __version__
from ftd.control.handlers import args as arg
from ftd.control.handlers.show import find_dataset, find_job
from ftd.control.protocol import NOT_FOUND
from ftd.control.server import CommandError
from ftd.store import evaluations as evaluation_rows
from ftd.store import recordings as recording_rows

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts
    from ftd.store import Store

SPLIT_CHUNK_BYTES = 4 << 20


async def _find(store: Store, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dataset and the jobs to export: one job if a job or its model is named."""
    job = await find_job(store, key)
    if job is not None:
        rows = await store.read("SELECT * FROM datasets WHERE id = ?", (job["dataset_id"],))
        if rows:
            return rows[0], [job]
    dataset = await find_dataset(store, key)
    if dataset is None:
        raise CommandError(NOT_FOUND, f"no dataset or job {key!r} (try `ftd datasets`)")
    jobs = await store.read("SELECT * FROM jobs WHERE dataset_id = ? ORDER BY id", (dataset["id"],))
    return dataset, jobs


async def _job(parts: Parts, job: dict[str, Any]) -> dict[str, Any]:
    store = parts.store
    job_id = str(job["job_id"])
    return {
        "job": job,
        "events": await store.job_events(job_id),
        "metrics": await store.job_metrics(job_id),
        "checkpoints": await store.job_checkpoints(job_id),
    }


async def _evaluations(
    store: Store, dataset_id: int, job_ids: set[str], models: set[str]
) -> list[dict[str, Any]]:
    """The jobs' evaluations, and those asked for by hand of the jobs' models."""
    rows = await evaluation_rows.of_dataset(store, dataset_id)
    seen = {row.id for row in rows}
    for model in sorted(models):
        rows.extend(r for r in await evaluation_rows.of_model(store, model) if r.id not in seen)
    found = []
    for row in sorted(rows, key=lambda r: r.id):
        if row.job_id is not None and row.job_id not in job_ids:
            continue
        found.append(
            {
                "evaluation": row.brief(),
                "config": row.config,
                "summary": row.summary,
                "promotion": row.promotion,
                "items": await evaluation_rows.items(store, row.id),
            }
        )
    return found


async def _recordings(
    store: Store, dataset_id: int, models: set[str], ids: set[int]
) -> list[dict[str, Any]]:
    found = []
    for row in await recording_rows.every(store):
        if row.dataset_id != dataset_id and row.model not in models and row.id not in ids:
            continue
        described: dict[str, Any] = row.brief()
        described["params"] = row.params
        found.append(
            {
                "recording": described,
                "answers": [a.as_dict() for a in await recording_rows.answers(store, row.id)],
            }
        )
    return found


async def export(parts: Parts, call: Call) -> dict[str, Any]:
    key = arg.required_text(call.args, "id")
    store = parts.store
    dataset, jobs = await _find(store, key)
    dataset_id = int(dataset["id"])
    splits = await store.read(
        "SELECT side, path, examples, sha256 FROM splits WHERE dataset_id = ? ORDER BY side",
        (dataset_id,),
    )
    for split in splits:
        try:
            split["size_bytes"] = os.stat(split["path"]).st_size
        except OSError:
            split["size_bytes"] = None  # gone: the manifest says so
        del split["path"]  # the daemon's own path says nothing to whoever reads the folder
    job_ids = {str(j["job_id"]) for j in jobs}
    models = {str(j["fine_tuned_model"]) for j in jobs if j["fine_tuned_model"]}
    evaluations = await _evaluations(store, dataset_id, job_ids, models)
    against = {
        int(e["evaluation"]["recording_id"])
        for e in evaluations
        if e["evaluation"].get("recording_id") is not None
    }
    return {
        "ftd_version": __version__,
        "asked_for": key,
        "dataset": dataset,
        "splits": splits,
        "jobs": [await _job(parts, job) for job in jobs],
        "evaluations": evaluations,
        "recordings": await _recordings(store, dataset_id, models, against),
    }


def _read_chunk(path: str, offset: int) -> tuple[bytes, int]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        return os.pread(fd, SPLIT_CHUNK_BYTES, offset), size
    finally:
        os.close(fd)


async def export_split(parts: Parts, call: Call) -> dict[str, Any]:
    """One chunk of a split's bytes, from ``offset``; ``size`` says when it is all read."""
    dataset_key = arg.required_text(call.args, "dataset")
    side = arg.required_text(call.args, "side")
    offset = arg.integer(call.args, "offset", 0, low=0, high=1 << 50)
    dataset = await find_dataset(parts.store, dataset_key)
    if dataset is None:
        raise CommandError(NOT_FOUND, f"no dataset {dataset_key!r}")
    rows = await parts.store.read(
        "SELECT path FROM splits WHERE dataset_id = ? AND side = ?", (dataset["id"], side)
    )
    if not rows:
        raise CommandError(NOT_FOUND, f"dataset {dataset['id']} has no {side} split")
    try:
        data, size = await anyio.to_thread.run_sync(_read_chunk, str(rows[0]["path"]), offset)
    except OSError as exc:
        raise CommandError(NOT_FOUND, f"the {side} split cannot be read: {exc.strerror}") from None
    return {"offset": offset, "size": size, "data": base64.b64encode(data).decode("ascii")}
