-- adaneg coordinator schema (SQLite, WAL, one writer).
-- Version 1: the shape of a job as DESIGN.md lays it out. The coordinator (issue: coordinator
-- and workers) applies this file at start and migrates older databases forward by version.

PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);

-- A submitted job: the validated spec, verbatim, and its identity.
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec_yaml   TEXT NOT NULL,
    spec_sha256 TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One task per OOD set: the ID set and that OOD set, shuffled by the job's seed.
CREATE TABLE IF NOT EXISTS tasks (
    id           INTEGER PRIMARY KEY,
    job_id       INTEGER NOT NULL REFERENCES jobs(id),
    ood_name     TEXT NOT NULL,
    ood_group    TEXT,                        -- 'near' | 'far' | NULL
    sample_count INTEGER NOT NULL,
    bank_version INTEGER NOT NULL DEFAULT 0,  -- authoritative memory bank version
    UNIQUE (job_id, ood_name)
);

-- Consecutive slices of a task's stream (whole batches), leased to workers.
CREATE TABLE IF NOT EXISTS units (
    id            INTEGER PRIMARY KEY,
    task_id       INTEGER NOT NULL REFERENCES tasks(id),
    first_sample  INTEGER NOT NULL,
    sample_count  INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'leased', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_expires TEXT,
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS units_by_state ON units(task_id, state);

-- Per-sample results, accepted once per unit.
CREATE TABLE IF NOT EXISTS results (
    task_id      INTEGER NOT NULL REFERENCES tasks(id),
    position     INTEGER NOT NULL,
    label        INTEGER NOT NULL,       -- ID class, or -1 for OOD
    pred         INTEGER,
    conf         REAL,
    conf_vanilla REAL,
    mcm          REAL,
    error        TEXT,                   -- unreadable image etc.; scores NULL
    PRIMARY KEY (task_id, position)
);

-- The authoritative memory bank of each task: entries with their key and the version at
-- which they were accepted (workers pull entries newer than the version they hold).
CREATE TABLE IF NOT EXISTS bank_entries (
    task_id  INTEGER NOT NULL REFERENCES tasks(id),
    row      INTEGER NOT NULL,
    priority REAL NOT NULL,
    position INTEGER NOT NULL,
    feature  BLOB NOT NULL,              -- float32 little-endian
    version  INTEGER NOT NULL,
    PRIMARY KEY (task_id, row, position)
);

CREATE TABLE IF NOT EXISTS workers (
    id             TEXT PRIMARY KEY,
    host           TEXT NOT NULL,
    last_heartbeat TEXT NOT NULL
);
