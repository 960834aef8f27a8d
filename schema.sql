-- adaneg coordinator schema (SQLite, WAL, one writer: the coordinator).
-- The coordinator applies this file when it opens a database and records the version in
-- `schema_version`; a database from an older version is migrated forward, one from a newer
-- version is refused.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);

-- A submitted job: the spec as submitted, and the resolved plan workers run from (JSON).
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec_yaml   TEXT NOT NULL,
    plan_json   TEXT NOT NULL,
    created_at  REAL NOT NULL,
    -- The name of the token that submitted it (`serve --tokens`; NULL without tokens), and when
    -- `adaneg cancel` cancelled it (NULL if it was not): schema 4.
    submitted_by TEXT,
    cancelled_at REAL
);

-- One task per OOD set: the ID set and that OOD set, shuffled by the job's seed. The task
-- holds the authoritative memory bank's version counter.
CREATE TABLE IF NOT EXISTS tasks (
    id           INTEGER PRIMARY KEY,
    job_id       INTEGER NOT NULL REFERENCES jobs(id),
    ood_index    INTEGER NOT NULL,
    ood_name     TEXT NOT NULL,
    ood_group    TEXT,
    sample_count INTEGER NOT NULL,
    bank_version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (job_id, ood_index)
);

-- The stream of a task: which item of which set sits at each position.
-- set_index 0 is the ID set, k ≥ 1 the k-th OOD set; label is the ID class or -1.
CREATE TABLE IF NOT EXISTS samples (
    task_id    INTEGER NOT NULL REFERENCES tasks(id),
    position   INTEGER NOT NULL,
    set_index  INTEGER NOT NULL,
    item_index INTEGER NOT NULL,
    label      INTEGER NOT NULL,
    PRIMARY KEY (task_id, position)
) WITHOUT ROWID;

-- Image references of image sets (set_index as in `samples`): the resolved URL of each item
-- (`file://…` or `http(s)://…`). Feature sets have no rows here.
CREATE TABLE IF NOT EXISTS items (
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    set_index  INTEGER NOT NULL,
    item_index INTEGER NOT NULL,
    ref        TEXT NOT NULL,
    PRIMARY KEY (job_id, set_index, item_index)
) WITHOUT ROWID;

-- Image features per image and model (the model's checksum), so an image is embedded once for
-- every task and job that uses it (the ID set is shared by all OOD sets; `rescore` embeds
-- nothing). `vector` is D little-endian float32s, L2-normalised; an image that could not be
-- read or decoded has no vector and its error instead.
CREATE TABLE IF NOT EXISTS features (
    model  TEXT NOT NULL,
    ref    TEXT NOT NULL,
    vector BLOB,
    error  TEXT,
    PRIMARY KEY (model, ref)
) WITHOUT ROWID;

-- Consecutive slices of a task's stream (whole batches), leased to workers.
CREATE TABLE IF NOT EXISTS units (
    id            INTEGER PRIMARY KEY,
    task_id       INTEGER NOT NULL REFERENCES tasks(id),
    first_sample  INTEGER NOT NULL,
    sample_count  INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'leased', 'done', 'failed', 'cancelled')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_expires REAL,
    last_error    TEXT,
    completed_at  REAL,
    -- Filled at completion, for the report: who did the unit, how long it took, and how full
    -- the worker's bank replica was at the unit's end (label rows holding cached features).
    completed_by    TEXT,
    compute_seconds REAL,
    wait_seconds    REAL,
    bank_id_rows    INTEGER,
    bank_neg_rows   INTEGER
);
CREATE INDEX IF NOT EXISTS units_by_state ON units(state, task_id, first_sample);
-- Every lease first expires the overdue leases: found by expiry, not by scanning all leased units.
CREATE INDEX IF NOT EXISTS units_by_lease_expiry ON units(state, lease_expires);

-- Per-sample results, written once, when a unit's completion is accepted.
CREATE TABLE IF NOT EXISTS results (
    task_id      INTEGER NOT NULL REFERENCES tasks(id),
    position     INTEGER NOT NULL,
    pred         INTEGER,
    conf         REAL,
    conf_vanilla REAL,
    mcm          REAL,
    adaptive     REAL,
    error        TEXT,
    pred_static  INTEGER,  -- argmax of the ID logits: MCM's and NegLabel's prediction
    PRIMARY KEY (task_id, position)
) WITHOUT ROWID;

-- The authoritative memory bank of each task: which sample sits in which label row, with its
-- priority. `version` is the task's bank version at which the entry was accepted: a worker
-- holding version v pulls the entries with version > v. The feature itself is not copied here:
-- it is the sample's own (its row of the set's feature file, or its row in `features` for
-- images), read back when a restarted coordinator reloads the bank, so a merge writes a few
-- bytes per entry.
CREATE TABLE IF NOT EXISTS bank_entries (
    task_id  INTEGER NOT NULL REFERENCES tasks(id),
    row      INTEGER NOT NULL,
    priority REAL NOT NULL,
    position INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (task_id, position)
) WITHOUT ROWID;

-- Workers seen, for status: last heartbeat and work done.
CREATE TABLE IF NOT EXISTS workers (
    id             TEXT PRIMARY KEY,
    host           TEXT NOT NULL,
    last_seen      REAL NOT NULL,
    units_done     INTEGER NOT NULL DEFAULT 0,
    samples_done   INTEGER NOT NULL DEFAULT 0
);

-- The finished points of `adaneg sweep` (schema 5): one row per job and point, the point keyed
-- by every scoring parameter's value (`memleng=10,thres=0.5,…`), its result the JSON of the
-- per-set and average metrics. An interrupted sweep run again scores only the points missing
-- here; the job's own rows are never changed by a sweep.
CREATE TABLE IF NOT EXISTS sweep_points (
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    point      TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, point)
) WITHOUT ROWID;

-- The finished tasks of sweep points not finished yet (schema 6): one row per job, point and
-- task, its result the JSON of that task's set metrics. A sweep scores all its points task by
-- task, so an interrupted one resumes at the task it was in; when a point's last task is done,
-- the point moves to sweep_points and its rows here are deleted.
CREATE TABLE IF NOT EXISTS sweep_sets (
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    point      TEXT NOT NULL,
    task_id    INTEGER NOT NULL,
    result     TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, point, task_id)
) WITHOUT ROWID;

-- Fleet sweeps (`sweep --coordinator`, schema 7): a grid over a job's stored features, keyed by
-- the job and its points (the same grid submitted again is the same sweep, so it resumes);
-- points is the JSON array of every point's parameters, in the grid's order.
CREATE TABLE IF NOT EXISTS sweeps (
    id         TEXT PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    points     TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;

-- A sweep's units: one task and a chunk of points (JSON array of their parameters) that a
-- worker scores together, leased and re-leased like job units. A done unit's sets are stored
-- in sweep_sets (one row per point and the task), the resume format `sweep --db` shares.
CREATE TABLE IF NOT EXISTS sweep_units (
    id            INTEGER PRIMARY KEY,
    sweep_id      TEXT NOT NULL REFERENCES sweeps(id),
    task_id       INTEGER NOT NULL REFERENCES tasks(id),
    points        TEXT NOT NULL,
    point_count   INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_expires REAL,
    last_error    TEXT,
    completed_at  REAL
);
CREATE INDEX IF NOT EXISTS sweep_units_by_state ON sweep_units(state, id);
CREATE INDEX IF NOT EXISTS sweep_units_by_sweep ON sweep_units(sweep_id);
CREATE INDEX IF NOT EXISTS sweep_units_by_lease_expiry ON sweep_units(state, lease_expires);
