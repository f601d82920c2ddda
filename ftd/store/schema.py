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
    # 4: evaluations (a model on a test file, against a base), their per-item
    # results, and the completions they paid for.
    """
    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('job', 'checkpoint', 'request')),
        job_id TEXT REFERENCES jobs(job_id),
        dataset_id INTEGER REFERENCES datasets(id),
        parent_id INTEGER REFERENCES evaluations(id),
        model TEXT NOT NULL,
        base_model TEXT,
        test_file TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('queued', 'running', 'succeeded', 'stopped', 'failed')),
        total_items INTEGER,
        requests INTEGER NOT NULL DEFAULT 0,
        cached_requests INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        verdict TEXT,
        promoted INTEGER,
        summary TEXT,
        promotion TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        updated_at REAL NOT NULL
    ) STRICT;
    -- A job's model (and each checkpoint) is evaluated once: the queueing insert
    -- meets this index, so a restart or a second scan cannot queue it again.
    CREATE UNIQUE INDEX evaluations_once_per_job_model ON evaluations(job_id, model)
        WHERE job_id IS NOT NULL;
    CREATE INDEX evaluations_by_status ON evaluations(status);
    CREATE INDEX evaluations_by_dataset ON evaluations(dataset_id);
    CREATE INDEX evaluations_by_model ON evaluations(model);

    -- One row per item and side, written as the item finishes: resuming skips
    -- the items that have rows.
    CREATE TABLE evaluation_items (
        evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
        item INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('candidate', 'base')),
        line INTEGER NOT NULL,
        prompt_sha256 TEXT NOT NULL,
        question TEXT NOT NULL,
        reference TEXT NOT NULL,
        model TEXT NOT NULL,
        response TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        scores TEXT,
        latency_ms REAL,
        attempts INTEGER NOT NULL,
        cached INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        finished_at REAL NOT NULL,
        PRIMARY KEY (evaluation_id, item, role)
    ) STRICT;

    -- Answers only; failures are never stored, so they are asked again.
    CREATE TABLE completion_cache (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        response TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        created_at REAL NOT NULL
    ) STRICT;
    """,
    # 5: a fine-tuned model deleted at the provider (``ftd delete-model``), and
    # where the HTML report of a finished evaluation was written.
    """
    ALTER TABLE jobs ADD COLUMN model_deleted_at REAL;
    ALTER TABLE evaluations ADD COLUMN report_path TEXT;
    """,
    # 6: several provider profiles: the one each job lives at; and deployments, the
    # models ftd serves under a name of their own (Azure) for their evaluation, with
    # the state of each so that a restart finishes or tears down what was under way.
    """
    ALTER TABLE jobs ADD COLUMN provider TEXT NOT NULL DEFAULT 'default';
    CREATE TABLE deployments (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        name TEXT NOT NULL,
        model TEXT NOT NULL,
        job_id TEXT,
        role TEXT NOT NULL CHECK (role IN ('candidate', 'base')),
        state TEXT NOT NULL CHECK (
            state IN ('intended', 'creating', 'ready', 'deleting', 'deleted', 'failed')
        ),
        keep INTEGER NOT NULL DEFAULT 0,
        hourly_usd REAL,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        ready_at REAL,
        deleted_at REAL,
        UNIQUE (provider, name)
    ) STRICT;
    CREATE INDEX deployments_by_state ON deployments(state);
    """,
    # 7: events in the provider's sequence, not by arrival (pages come newest
    # first): within one second, by step, a metrics event before the messages
    # that follow it at that step, then by id. A thousand times the step, plus
    # a message's place after it; events already stored take the step of the
    # metrics stored before them in their second.
    """
    ALTER TABLE job_events ADD COLUMN step_order INTEGER NOT NULL DEFAULT 0;
    UPDATE job_events SET step_order = 1000 * json_extract(data, '$.step')
        WHERE type = 'metrics' AND json_type(data, '$.step') = 'integer';
    UPDATE job_events SET step_order = 1 + 1000 * coalesce((
            SELECT max(json_extract(m.data, '$.step')) FROM job_events m
            WHERE m.job_id = job_events.job_id AND m.type = 'metrics'
              AND json_type(m.data, '$.step') = 'integer'
              AND (m.created_at < job_events.created_at
                   OR (m.created_at = job_events.created_at AND m.rowid < job_events.rowid))
        ), 0)
        WHERE NOT (type IS 'metrics' AND json_type(data, '$.step') IS 'integer');
    DROP INDEX job_events_by_job;
    CREATE INDEX job_events_in_order ON job_events(job_id, created_at, step_order, event_id);
    """,
    # 8: who dropped a dataset (the owner of the file taken), and which file a
    # recorded move is about (device:inode), so no other file is ever taken for it.
    """
    ALTER TABLE datasets ADD COLUMN owner_uid INTEGER;
    ALTER TABLE dataset_files ADD COLUMN identity TEXT;
    """,
    # 9: notifications, written in the transaction of the change they tell of, and
    # their deliveries, one per configured destination that wants the kind, made
    # when the notifier first reads a notification; a delivery is done once sent
    # (a 2xx answer) or given up after its destination's attempts.
    """
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        payload TEXT NOT NULL,
        dedupe TEXT UNIQUE,
        created_at REAL NOT NULL,
        routed_at REAL
    ) STRICT;
    CREATE INDEX notifications_unrouted ON notifications(id) WHERE routed_at IS NULL;
    CREATE TABLE notification_deliveries (
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        destination TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        sent_at REAL,
        given_up_at REAL,
        PRIMARY KEY (destination, notification_id)
    ) STRICT;
    CREATE INDEX notification_deliveries_open ON notification_deliveries(destination,
        notification_id) WHERE sent_at IS NULL AND given_up_at IS NULL;
    """,
    # 10: a recorded move ftd refused to make (the way to the file passes through a
    # link, or the file is no longer the one taken): why, kept for the report.
    """
    ALTER TABLE dataset_files ADD COLUMN refused TEXT;
    """,
    # 11: recorded answers: a model's answers to a set of test items, kept under a
    # name as the reference its successor is judged against once it is gone. An
    # answer's row is written ('asking') before its request is sent, so a restart
    # never asks an item twice; an evaluation may take a recording as its base.
    """
    CREATE TABLE recordings (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        model TEXT NOT NULL,
        provider TEXT NOT NULL DEFAULT 'default',
        dataset_id INTEGER REFERENCES datasets(id),
        job_id TEXT,
        test_file TEXT NOT NULL,
        params TEXT NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('request', 'retirement')),
        shutdown_date TEXT,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        total_items INTEGER,
        requests INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        updated_at REAL NOT NULL
    ) STRICT;
    CREATE INDEX recordings_by_status ON recordings(status);
    CREATE INDEX recordings_by_model ON recordings(model);
    CREATE TABLE recorded_answers (
        recording_id INTEGER NOT NULL REFERENCES recordings(id),
        item INTEGER NOT NULL,
        line INTEGER NOT NULL,
        prompt_sha256 TEXT NOT NULL,
        prompt TEXT NOT NULL,
        reference TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('asking', 'answered', 'failed', 'lost')),
        response TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        latency_ms REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        asked_at REAL NOT NULL,
        answered_at REAL,
        PRIMARY KEY (recording_id, item)
    ) STRICT;
    ALTER TABLE evaluations ADD COLUMN recording_id INTEGER REFERENCES recordings(id);
    """,
    # 12: runs. A dataset (its content and its fixed split) is trained by one or more
    # runs, each with its own settings, provider profile, tag, job, evaluation and
    # report. The pipeline's row is the run: a dataset's first run is its own row
    # (run_of NULL); a later run is a row of its own pointing at that first one,
    # with the same split. Existing rows are each their dataset's first run.
    """
    ALTER TABLE datasets ADD COLUMN run_of INTEGER REFERENCES datasets(id);
    CREATE INDEX datasets_by_run_of ON datasets(run_of) WHERE run_of IS NOT NULL;
    CREATE VIEW runs AS
        SELECT d.id AS run_id, coalesce(d.run_of, d.id) AS dataset_id, d.state, d.tag,
               d.settings, d.estimated_cost_usd, j.job_id, j.provider, j.status AS job_status,
               j.cost_usd, j.fine_tuned_model
        FROM datasets d LEFT JOIN jobs j ON j.dataset_id = d.id
        WHERE d.duplicate_of IS NULL;
    """,
    # 13: evaluations through the providers' batch engines. A run row says which
    # mode was chosen and why, and holds the random part of its batches' tags; a
    # batch row is the intent, written before its file is uploaded or its batch
    # created; a failure row is one request's failure in one batch (its retries
    # are bounded by how many it has), written once whatever a replay does.
    """
    CREATE TABLE eval_batch_runs (
        evaluation_id INTEGER PRIMARY KEY REFERENCES evaluations(id) ON DELETE CASCADE,
        mode TEXT NOT NULL,
        reason TEXT NOT NULL,
        token TEXT NOT NULL,
        batch_cost_usd REAL NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    ) STRICT;
    CREATE TABLE eval_batches (
        id INTEGER PRIMARY KEY,
        evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
        stage TEXT NOT NULL,
        tag TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        file_id TEXT,
        batch_id TEXT,
        status TEXT NOT NULL DEFAULT 'written',
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        committed INTEGER NOT NULL DEFAULT 0,
        committed_lines INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    ) STRICT;
    CREATE INDEX eval_batches_by_evaluation ON eval_batches(evaluation_id, stage);
    CREATE TABLE eval_batch_failures (
        evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
        custom_id TEXT NOT NULL,
        batch_tag TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (evaluation_id, custom_id, batch_tag)
    ) STRICT, WITHOUT ROWID;
    """,
    # 14: a delivery dropped because its destination left the configuration (a
    # reload, or a start without it): kept with why and when, no longer waiting.
    """
    ALTER TABLE notification_deliveries ADD COLUMN dropped_at REAL;
    ALTER TABLE notification_deliveries ADD COLUMN dropped_reason TEXT;
    """,
    # 15: a batch's requests by custom_id: the cache key each output line is committed
    # under and what became of it (answered, failed; NULL while the batch runs). Held
    # here rather than in the daemon's memory, since eight batches of 50,000 requests
    # in flight would hold hundreds of thousands of keys; deleted once the batch is in.
    """
    CREATE TABLE eval_batch_requests (
        batch INTEGER NOT NULL REFERENCES eval_batches(id) ON DELETE CASCADE,
        custom_id TEXT NOT NULL,
        key TEXT NOT NULL,
        outcome TEXT,
        PRIMARY KEY (batch, custom_id)
    ) STRICT, WITHOUT ROWID;
    """,
    # 16: a job row's revision, renewed by every write to it (whoever writes, this
    # process or another), so that a reader keeping the rows in memory (the tracker,
    # 10,000 a cycle) reads again only the rows written since its last read. Unique:
    # each is one more than the largest, set inside the writer's transaction.
    """
    ALTER TABLE jobs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_by_revision ON jobs (revision);
    CREATE TRIGGER jobs_revised_on_insert AFTER INSERT ON jobs BEGIN
        UPDATE jobs SET revision = (SELECT max(revision) FROM jobs) + 1 WHERE id = NEW.id;
    END;
    CREATE TRIGGER jobs_revised_on_update AFTER UPDATE ON jobs
    WHEN NEW.revision = OLD.revision BEGIN
        UPDATE jobs SET revision = (SELECT max(revision) FROM jobs) + 1 WHERE id = NEW.id;
    END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
