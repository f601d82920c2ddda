"""Runs in the store: the migration that brings them maps every existing row, and new runs
share their dataset's split."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ftd.store import Store, states
from ftd.store.runs import insert_run, runs_of
from ftd.store.schema import MIGRATIONS, SCHEMA_VERSION

pytestmark = pytest.mark.anyio

RUNS_MIGRATION = next(i for i, script in enumerate(MIGRATIONS) if "CREATE VIEW runs" in script)
SETTINGS = json.dumps({"model": "gpt-4o-mini-2024-07-18", "provider": "default"})

# One row in every table of the schema as it was before runs: a dataset that was
# trained and evaluated, a copy of it, and one rejected; a deployment, a cached answer.
BEFORE_RUNS = [
    "INSERT INTO datasets (id, sha256, name, path, size_bytes, state, duplicate_of, report, "
    "settings, estimated_cost_usd, approved_at, attempts, created_at, updated_at, tag, "
    "owner_uid) VALUES "
    "(1, 'aa', 'faq.jsonl', '/p/faq.jsonl', 10, 'submitted', NULL, '{}', :settings, "
    "0.5, 1, 0, 1, 1, 'tag1', 1000), "
    "(2, 'aa', 'faq-copy.jsonl', '/p/faq-copy.jsonl', 10, 'duplicate', 1, NULL, NULL, NULL, "
    "NULL, 0, 2, 2, 'tag2', 1000), "
    "(3, 'bb', 'bad.jsonl', '/r/bad.jsonl', 5, 'rejected', NULL, '{}', NULL, NULL, NULL, 0, "
    "3, 3, 'tag3', NULL)",
    "INSERT INTO splits VALUES (1, 'train', '/s/1/train.jsonl', 80, 'st'), "
    "(1, 'validation', '/s/1/validation.jsonl', 10, 'sv'), "
    "(1, 'test', '/s/1/test.jsonl', 10, 'ss')",
    "INSERT INTO uploads VALUES (1, 'train', 'ftd-aa-tag1-train.jsonl', 100, 'file-1', 1, 1)",
    "INSERT INTO dataset_files (dataset_id, role, path, moving_from, identity) "
    "VALUES (1, 'dataset', '/p/faq.jsonl', NULL, '1:2')",
    "INSERT INTO jobs (id, dataset_id, job_id, status, model, fine_tuned_model, metadata, "
    "created_at, updated_at, cost_usd, provider) VALUES (1, 1, 'ftjob-1', 'succeeded', "
    "'gpt-4o-mini-2024-07-18', 'ft:gpt-4o-mini:faq', '{\"ftd_tag\": \"aa-tag1\"}', 1, 1, "
    "0.4, 'default'), (2, NULL, 'ftjob-adopted', 'running', 'gpt-4o-mini', NULL, NULL, 1, 1, "
    "NULL, 'default')",
    "INSERT INTO transitions (entity, entity_id, from_state, to_state, at) "
    "VALUES ('dataset', 1, NULL, 'detected', 1)",
    "INSERT INTO job_events (event_id, job_id, created_at, level, type, message, step_order) "
    "VALUES ('ev-1', 'ftjob-1', 1, 'info', 'message', 'started', 1)",
    "INSERT INTO job_metrics (job_id, step, train_loss, source) VALUES ('ftjob-1', 1, 0.9, "
    "'event')",
    "INSERT INTO job_checkpoints VALUES ('ckpt-1', 'ftjob-1', 1, 'ft:gpt-4o-mini:faq:ckpt', "
    "NULL, 1)",
    "INSERT INTO evaluations (id, kind, job_id, dataset_id, model, base_model, test_file, "
    "config, status, created_at, updated_at) VALUES (1, 'job', 'ftjob-1', 1, "
    "'ft:gpt-4o-mini:faq', 'gpt-4o-mini-2024-07-18', '/s/1/test.jsonl', '{}', 'succeeded', 1, "
    "1)",
    "INSERT INTO evaluation_items (evaluation_id, item, role, line, prompt_sha256, question, "
    "reference, model, scores, attempts, finished_at) VALUES (1, 0, 'candidate', 1, 'p0', 'q', "
    "'r', 'ft:gpt-4o-mini:faq', '{}', 1, 1)",
    "INSERT INTO completion_cache VALUES ('k', 'ft:gpt-4o-mini:faq', 'a', 1, 1, 1)",
    "INSERT INTO notifications (id, kind, subject, payload, dedupe, created_at, routed_at) "
    "VALUES (1, 'job_succeeded', 'ftjob-1', '{}', 'job:ftjob-1:succeeded', 1, 1)",
    "INSERT INTO notification_deliveries (notification_id, destination, next_attempt_at, "
    "sent_at) VALUES (1, 'ops', 1, 2)",
    "INSERT INTO recordings (id, name, model, dataset_id, job_id, test_file, params, origin, "
    "status, created_at, updated_at) VALUES (1, 'faq-before', 'ft:gpt-4o-mini:faq', 1, "
    "'ftjob-1', '/s/1/test.jsonl', '{}', 'request', 'succeeded', 1, 1)",
    "INSERT INTO recorded_answers (recording_id, item, line, prompt_sha256, prompt, reference, "
    "state, response, asked_at) VALUES (1, 0, 1, 'p0', '[]', 'r', 'answered', 'a', 1)",
    "INSERT INTO deployments (provider, name, model, job_id, role, state, created_at, "
    "updated_at) VALUES ('azure', 'dep-1', 'ft:gpt-4o-mini:faq', 'ftjob-1', 'candidate', "
    "'deleted', 1, 1)",
]


def _tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows if not name.startswith("sqlite_")]


async def test_the_runs_migration_keeps_every_row_and_makes_each_dataset_its_first_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ftd.db"
    with sqlite3.connect(path) as raw:
        for number, script in enumerate(MIGRATIONS[:RUNS_MIGRATION], start=1):
            raw.executescript(f"{script}\nPRAGMA user_version={number};")
        for statement in BEFORE_RUNS:
            raw.execute(statement, {"settings": SETTINGS})
        before = {
            table: raw.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
            for table in _tables(raw)
        }
        # Later migrations may add columns: the rows are compared on the columns of then.
        columns_then = {
            table: [c[1] for c in raw.execute(f"PRAGMA table_info({table})")] for table in before
        }
    empty = [table for table, rows in before.items() if not rows]
    assert empty == [], f"the test leaves tables without data: {empty}"

    store = await Store.open(path)
    assert await store.schema_version() == SCHEMA_VERSION
    await store.close()

    with sqlite3.connect(path) as db:
        for table, rows in before.items():
            kept = ", ".join(columns_then[table])  # not run_of, nor what came after
            after = db.execute(f"SELECT {kept} FROM {table}").fetchall()  # noqa: S608
            assert after == rows, table
        runs = db.execute(
            "SELECT run_id, dataset_id, job_id, state, fine_tuned_model FROM runs ORDER BY run_id"
        ).fetchall()
        mapped = db.execute(
            "SELECT e.id, r.run_id FROM evaluations e JOIN runs r ON r.job_id = e.job_id"
        ).fetchall()
    # The trained dataset is its own first run, with its job; the copy is no run.
    assert runs == [
        (1, 1, "ftjob-1", "submitted", "ft:gpt-4o-mini:faq"),
        (3, 3, None, "rejected", None),
    ]
    assert mapped == [(1, 1)]


async def test_a_new_run_shares_the_split_and_is_told_apart_from_the_copy(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ftd.db")
    with sqlite3.connect(tmp_path / "ftd.db") as raw:
        for statement in BEFORE_RUNS[:2]:
            raw.execute(statement, {"settings": SETTINGS})
    first = await store.dataset(1)
    assert first is not None
    assert first.root_id == 1
    async with store.transaction() as tx:
        second_id = await insert_run(
            tx,
            first,
            splits=(await store.splits(1)).values(),
            settings={"model": "gpt-4.1-mini-2025-04-14", "provider": "default"},
            state=states.READY,
            report={"estimate": {"cost_usd": 1.0}},
            estimated_cost_usd=1.0,
            detail={"started_by": "test"},
        )
    second = await store.dataset(second_id)
    assert second is not None
    assert (second.run_of, second.root_id, second.sha256) == (1, 1, "aa")
    assert second.tag != first.tag
    assert second.approved_at is not None
    assert {s: (p.path, p.sha256) for s, p in (await store.splits(second_id)).items()} == {
        s: (p.path, p.sha256) for s, p in (await store.splits(1)).items()
    }
    # A run of the second run is a run of the dataset.
    async with store.transaction() as tx:
        third_id = await insert_run(
            tx,
            second,
            splits=[],
            settings={},
            state=states.AWAITING_APPROVAL,
            report=None,
            estimated_cost_usd=None,
        )
    third = await store.dataset(third_id)
    assert third is not None
    assert (third.run_of, third.approved_at) == (1, None)
    assert [r.id for r in await runs_of(store, 1)] == [1, second_id, third_id]
    history = await store.history("dataset", second_id)
    assert history[0][:2] == (None, states.READY)
    await store.close()
