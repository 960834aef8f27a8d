@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import JobStore
import Testing

/// Databases written by an older adaneg open in this one: migrated forward in place, data kept.
@Suite("Schema migration")
struct MigrationTests {
    /// `schema.sql` as of schema version 1 (adaneg before image jobs), comments stripped.
    static let version1 = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec_yaml   TEXT NOT NULL,
    plan_json   TEXT NOT NULL,
    created_at  REAL NOT NULL
);
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
CREATE TABLE IF NOT EXISTS samples (
    task_id    INTEGER NOT NULL REFERENCES tasks(id),
    position   INTEGER NOT NULL,
    set_index  INTEGER NOT NULL,
    item_index INTEGER NOT NULL,
    label      INTEGER NOT NULL,
    PRIMARY KEY (task_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS units (
    id            INTEGER PRIMARY KEY,
    task_id       INTEGER NOT NULL REFERENCES tasks(id),
    first_sample  INTEGER NOT NULL,
    sample_count  INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'leased', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_expires REAL,
    last_error    TEXT,
    completed_at  REAL
);
CREATE INDEX IF NOT EXISTS units_by_state ON units(state, task_id, first_sample);
CREATE TABLE IF NOT EXISTS results (
    task_id      INTEGER NOT NULL REFERENCES tasks(id),
    position     INTEGER NOT NULL,
    pred         INTEGER,
    conf         REAL,
    conf_vanilla REAL,
    mcm          REAL,
    adaptive     REAL,
    error        TEXT,
    PRIMARY KEY (task_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bank_entries (
    task_id  INTEGER NOT NULL REFERENCES tasks(id),
    row      INTEGER NOT NULL,
    priority REAL NOT NULL,
    position INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (task_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    id             TEXT PRIMARY KEY,
    host           TEXT NOT NULL,
    last_seen      REAL NOT NULL,
    units_done     INTEGER NOT NULL DEFAULT 0,
    samples_done   INTEGER NOT NULL DEFAULT 0
);
"""

    @Test("a version-1 database is migrated to the current version, keeping its rows")
    func migratesVersion1() throws {
        let path = try Self.version1Database(sampleCount: 2)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try StoreWriter(path: path)
        #expect(try store.db.scalar("SELECT max(version) FROM schema_version") == Int64(Schema.currentVersion))
        let unit = try #require(try store.unit(id: 1))
        #expect(unit.state == .done && unit.completedAt == 5 && unit.completion == nil)
        #expect(try store.results(task: 1).map(\.conf) == [0.5, 0.25])
        try store.storeFeatures(model: "m", entries: [(ref: "file:///a.jpg", vector: [1, 0], error: nil)])
        #expect(try store.features(model: "m", refs: ["file:///a.jpg"]).first??.vector == [1, 0])
        // Schema 6: a sweep point's finished tasks.
        try store.storeSweepSets(job: 1, [(point: "memleng=2", task: 1, result: "{}")], now: 0)
        #expect(try store.sweepSets(job: 1) == ["memleng=2": [1: "{}"]])
        // Schema 7: fleet sweeps and their units, leased and completed into sweep_sets.
        #expect(try store.createSweep(id: "s1", job: 1, points: "[]", units: [(task: 1, points: "[]", count: 1)], now: 0))
        #expect(try store.createSweep(id: "s1", job: 1, points: "[]", units: [(task: 1, points: "[]", count: 1)], now: 0) == false)
        let (leasedSweep, _) = try store.leaseSweepUnit(worker: "w", now: 1, expires: 10, maxAttempts: 3)
        let sweepUnit = try #require(leasedSweep)
        #expect(sweepUnit.sweep == "s1" && sweepUnit.task == 1 && sweepUnit.attempts == 1 && sweepUnit.state == .leased)
        #expect(try store.completeSweepUnit(sweepUnit, job: 1, worker: "w", attempt: 1, sets: [(point: "memleng=3", result: "{}")], now: 2))
        #expect(try store.sweepSets(job: 1)["memleng=3"] == [1: "{}"])
        #expect(try store.sweepProgress(id: "s1").units == SweepUnitCounts(done: 1))
        // Schema 8: overdue leases are found by expiry, not by a scan of every leased unit.
        for (table, index) in [("units", "units_by_lease_expiry"), ("sweep_units", "sweep_units_by_lease_expiry")] {
            let plan = try store.db.prepare("EXPLAIN QUERY PLAN UPDATE \(table) SET state = 'pending' WHERE state = 'leased' AND lease_expires < ?")
            try plan.bind([.double(1)])
            var steps = [String]()
            while try plan.step() { steps.append(plan.text(3) ?? "") }
            #expect(steps.contains { $0.contains(index) && $0.contains("lease_expires<") }, "\(table): \(steps)")
        }
        #expect(try store.integrityCheck() == "ok")
        // Opening again is a no-op.
        _ = try StoreWriter(path: path)
    }
}
