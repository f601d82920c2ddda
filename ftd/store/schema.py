"""The database schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a database has had; opening
it applies the rest, each in its own transaction. A migration is never edited
once released: a change is a new migration appended at the end.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: datasets, their splits and uploads, jobs, and a log of state changes.
    """
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        state TEXT NOT NULL,
        duplicate_of INTEGER REFERENCES datasets(id),
        report TEXT,
        settings TEXT,
        estimated_cost_usd REAL,
        approved_at REAL,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    ) STRICT;
    -- One original per content; copies point at it through duplicate_of.
    CREATE UNIQUE INDEX datasets_original ON datasets(sha256) WHERE duplicate_of IS NULL;
    CREATE INDEX datasets_by_state ON datasets(state, next_attempt_at);

    CREATE TABLE splits (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id),
        side TEXT NOT NULL CHECK (side IN ('train', 'validation', 'test')),
        path TEXT NOT NULL,
        examples INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (dataset_id, side)
    ) STRICT;

    -- An upload row is written before the request goes out (the intent), and
    -- gets its file_id once the provider has answered.
    CREATE TABLE uploads (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id),
        side TEXT NOT NULL CHECK (side IN ('train', 'validation')),
        filename TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        file_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (dataset_id, side)
    ) STRICT;

    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER REFERENCES datasets(id),
        job_id TEXT UNIQUE,
        status TEXT NOT NULL,
        model TEXT NOT NULL,
        fine_tuned_model TEXT,
        trained_tokens INTEGER,
        estimated_finish REAL,
        error_code TEXT,
        error_message TEXT,
        error_param TEXT,
        metadata TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL
    ) STRICT;
    -- At most one job per dataset, whatever happens.
    CREATE UNIQUE INDEX jobs_one_per_dataset ON jobs(dataset_id) WHERE dataset_id IS NOT NULL;
    CREATE INDEX jobs_by_status ON jobs(status);

    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        entity TEXT NOT NULL,
        entity_id INTEGER NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT
    ) STRICT;
    CREATE INDEX transitions_by_entity ON transitions(entity, entity_id);
    """,
    # 2: a per-dataset tag for remote objects, files followed through their moves,
    # and a copy of a rejected or failed dataset may be tried afresh.
    """
    ALTER TABLE datasets ADD COLUMN tag TEXT;
    UPDATE datasets SET tag = lower(hex(randomblob(8))) WHERE tag IS NULL;
    CREATE UNIQUE INDEX datasets_by_tag ON datasets(tag);
    DROP INDEX datasets_original;
    CREATE INDEX datasets_by_sha256 ON datasets(sha256);

    -- Where each of a dataset's files is. While a move is pending, moving_from
    -- names where it was: the move is recorded first and done after, so a crash
    -- in between is finished at the next start.
    CREATE TABLE dataset_files (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id),
        role TEXT NOT NULL CHECK (role IN ('dataset', 'sidecar', 'validation', 'test')),
        path TEXT NOT NULL,
        moving_from TEXT,
        PRIMARY KEY (dataset_id, role)
    ) STRICT;
    CREATE INDEX dataset_files_pending ON dataset_files(moving_from) WHERE moving_from IS NOT NULL;
    """,
    # 3: what the tracker learns of a job: events, metrics, checkpoints, results,
    # model readiness; and this installation's id, which tags its jobs.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(8))));

    ALTER TABLE jobs ADD COLUMN cost_usd REAL;
    ALTER TABLE jobs ADD COLUMN result_files TEXT;
    ALTER TABLE jobs ADD COLUMN results_parsed_at REAL;
    ALTER TABLE jobs ADD COLUMN model_ready_at REAL;
    ALTER TABLE jobs ADD COLUMN details_at REAL;
    -- Set while older events remain unread below this event id (reads are paged).
    ALTER TABLE jobs ADD COLUMN events_cursor TEXT;
    ALTER TABLE jobs ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE job_events (
        event_id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        created_at INTEGER NOT NULL,
        level TEXT NOT NULL,
        type TEXT,
        message TEXT NOT NULL,
        data TEXT
    ) STRICT;
    CREATE INDEX job_events_by_job ON job_events(job_id, created_at);

    -- One row per training step; figures from metrics events, completed from
    -- the result file once the job has finished.
    CREATE TABLE job_metrics (
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        step INTEGER NOT NULL,
        train_loss REAL,
        train_accuracy REAL,
        valid_loss REAL,
        valid_accuracy REAL,
        full_valid_loss REAL,
        full_valid_accuracy REAL,
        source TEXT NOT NULL CHECK (source IN ('event', 'result_file')),
        PRIMARY KEY (job_id, step)
    ) STRICT;

    CREATE TABLE job_checkpoints (
        checkpoint_id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        step INTEGER NOT NULL,
        model TEXT NOT NULL,
        metrics TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX job_checkpoints_by_job ON job_checkpoints(job_id, step);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
