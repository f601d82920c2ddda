"""A dataset's runs in the store: each is a dataset row of its own pointing at the first.

A new run shares its dataset's content and split (the split rows are copied,
the files are the same), and has its own tag, settings, estimate and state:
the pipeline then takes it like any dataset that passed validation, so its
uploads, job, evaluation and report are its own.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from ftd.store import states
from ftd.store.rows import DatasetRow

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ftd.store.db import Store, Tx
    from ftd.store.rows import SplitRow


async def insert_run(
    tx: Tx,
    dataset: DatasetRow,
    *,
    splits: Iterable[SplitRow],
    settings: Mapping[str, Any],
    state: str,
    report: Mapping[str, Any] | None,
    estimated_cost_usd: float | None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """A new run of ``dataset`` (any of its runs' rows) in ``state``; its row id."""
    cursor = await tx.execute(
        "INSERT INTO datasets (sha256, name, path, size_bytes, state, tag, owner_uid, run_of, "
        "report, settings, estimated_cost_usd, approved_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            dataset.sha256,
            dataset.name,
            dataset.path,
            dataset.size_bytes,
            state,
            secrets.token_hex(8),
            dataset.owner_uid,
            dataset.root_id,
            json.dumps(dict(report)) if report is not None else None,
            json.dumps(dict(settings)),
            estimated_cost_usd,
            tx.now if state == states.READY else None,
            tx.now,
            tx.now,
        ),
    )
    run_id = cursor.lastrowid
    assert run_id is not None
    for split in splits:
        await tx.execute(
            "INSERT INTO splits (dataset_id, side, path, examples, sha256) VALUES (?, ?, ?, ?, ?)",
            (run_id, split.side, split.path, split.examples, split.sha256),
        )
    await tx.log_change(
        "dataset",
        run_id,
        None,
        state,
        {"run_of": dataset.root_id, **(dict(detail) if detail else {})},
        name=dataset.name,
    )
    return run_id


async def runs_of(store: Store, root_id: int) -> list[DatasetRow]:
    """The dataset's runs that count (not a copy, not one that ended before training)."""
    excluded = sorted(states.NOT_AN_ORIGINAL)
    marks = ", ".join("?" * len(excluded))
    rows = await store.read(
        "SELECT * FROM datasets WHERE (id = ? OR run_of = ?) AND duplicate_of IS NULL "  # noqa: S608
        f"AND state NOT IN ({marks}) ORDER BY id",
        (root_id, root_id, *excluded),
    )
    out = []
    for row in rows:
        for key in ("report", "settings"):
            if row.get(key) is not None:
                row[key] = json.loads(row[key])
        out.append(DatasetRow(**row))
    return out


async def listing(store: Store, root_id: int) -> list[dict[str, Any]]:
    """Every run of a dataset as ``show`` and ``status`` name them, oldest first."""
    rows = await store.read(
        "SELECT run_id, state, json_extract(settings, '$.model') AS model, "
        "coalesce(provider, json_extract(settings, '$.provider')) AS provider, job_id, "
        "job_status, fine_tuned_model, estimated_cost_usd, cost_usd FROM runs "
        "WHERE dataset_id = ? ORDER BY run_id",
        (root_id,),
    )
    for row in rows:
        row["run"] = f"run-{row['run_id']}"
    return rows


async def tally(store: Store) -> dict[str, int]:
    """How many datasets there are (first runs) and how many runs in all (no copies)."""
    rows = await store.read(
        "SELECT count(DISTINCT dataset_id) AS datasets, count(*) AS runs FROM runs"
    )
    return {"datasets": int(rows[0]["datasets"]), "runs": int(rows[0]["runs"])}
