import AdaNegCore
import CSQLite
import Foundation

/// The schema (top-level `schema.sql`, bundled) and its migrations.
enum Schema {
    /// The version `schema.sql` describes.
    static let currentVersion = 8

    /// The top-level `schema.sql`, embedded in the binary at build time (the target's
    /// `schema.sql` is a link to it), so a copied `adaneg` binary needs no resource bundle.
    static func baseSQL() throws(StoreError) -> String {
        String(decoding: PackageResources.schema_sql, as: UTF8.self)
    }

    /// Statements that bring a database at version `v` to `v + 1`; each change to `schema.sql`
    /// adds one entry here.
    static let migrations: [Int: String] = [
        // 1 → 2: image inputs (item references, features per image and model) and per-unit
        // completion details for the report.
        1: """
        ALTER TABLE units ADD COLUMN completed_by TEXT;
        ALTER TABLE units ADD COLUMN compute_seconds REAL;
        ALTER TABLE units ADD COLUMN wait_seconds REAL;
        ALTER TABLE units ADD COLUMN bank_id_rows INTEGER;
        ALTER TABLE units ADD COLUMN bank_neg_rows INTEGER;
        CREATE TABLE IF NOT EXISTS items (
            job_id INTEGER NOT NULL REFERENCES jobs(id), set_index INTEGER NOT NULL,
            item_index INTEGER NOT NULL, ref TEXT NOT NULL,
            PRIMARY KEY (job_id, set_index, item_index)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS features (
            model TEXT NOT NULL, ref TEXT NOT NULL, vector BLOB, error TEXT,
            PRIMARY KEY (model, ref)) WITHOUT ROWID;
        """,
        // 2 → 3: each method's own prediction (MCM and NegLabel: argmax of the ID logits).
        2: """
        ALTER TABLE results ADD COLUMN pred_static INTEGER;
        """,
        // 3 → 4: the name of the token that submitted each job, when it was cancelled, and the
        // units' `cancelled` state (SQLite cannot widen a CHECK: the table is copied, by column).
        3: """
        ALTER TABLE jobs ADD COLUMN submitted_by TEXT;
        ALTER TABLE jobs ADD COLUMN cancelled_at REAL;
        CREATE TABLE units_v4 (
            id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id),
            first_sample INTEGER NOT NULL, sample_count INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires REAL, last_error TEXT, completed_at REAL,
            completed_by TEXT, compute_seconds REAL, wait_seconds REAL, bank_id_rows INTEGER, bank_neg_rows INTEGER);
        INSERT INTO units_v4 (id, task_id, first_sample, sample_count, state, attempts, lease_owner, lease_expires, last_error,
                              completed_at, completed_by, compute_seconds, wait_seconds, bank_id_rows, bank_neg_rows)
            SELECT id, task_id, first_sample, sample_count, state, attempts, lease_owner, lease_expires, last_error,
                   completed_at, completed_by, compute_seconds, wait_seconds, bank_id_rows, bank_neg_rows FROM units;
        DROP TABLE units;
        ALTER TABLE units_v4 RENAME TO units;
        CREATE INDEX IF NOT EXISTS units_by_state ON units(state, task_id, first_sample);
        """,
        // 4 → 5: the finished points of `adaneg sweep`, so an interrupted sweep resumes.
        4: """
        CREATE TABLE IF NOT EXISTS sweep_points (
            job_id INTEGER NOT NULL REFERENCES jobs(id), point TEXT NOT NULL,
            result TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (job_id, point)) WITHOUT ROWID;
        """,
        // 5 → 6: a sweep point's finished tasks, so a sweep resumes per (point, task).
        5: """
        CREATE TABLE IF NOT EXISTS sweep_sets (
            job_id INTEGER NOT NULL REFERENCES jobs(id), point TEXT NOT NULL, task_id INTEGER NOT NULL,
            result TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (job_id, point, task_id)) WITHOUT ROWID;
        """,
        // 6 → 7: fleet sweeps (`sweep --coordinator`): each grid and its units of (task, points).
        6: """
        CREATE TABLE IF NOT EXISTS sweeps (
            id TEXT PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs(id),
            points TEXT NOT NULL, created_at REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sweep_units (
            id INTEGER PRIMARY KEY, sweep_id TEXT NOT NULL REFERENCES sweeps(id),
            task_id INTEGER NOT NULL REFERENCES tasks(id), points TEXT NOT NULL, point_count INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires REAL, last_error TEXT, completed_at REAL);
        CREATE INDEX IF NOT EXISTS sweep_units_by_state ON sweep_units(state, id);
        CREATE INDEX IF NOT EXISTS sweep_units_by_sweep ON sweep_units(sweep_id);
        """,
        // 7 → 8: leases by expiry. Every lease first expires the overdue ones; without this
        // index that scanned every leased unit (a thousand workers: 0.23 ms a lease, twice).
        7: """
        CREATE INDEX IF NOT EXISTS units_by_lease_expiry ON units(state, lease_expires);
        CREATE INDEX IF NOT EXISTS sweep_units_by_lease_expiry ON sweep_units(state, lease_expires);
        """,
    ]

    /// The adaneg schema version of an open database: nil for a database without tables (new
    /// or empty), which a writer may initialise. The one check of what a file is, shared by
    /// readers and writers, so neither `report` nor `serve`/`run`/`rescore` ever takes another
    /// program's database for its own: a file that is not SQLite, or an SQLite database with
    /// tables but no `schema_version`, is refused, naming the file. Reads only.
    static func identify(_ db: SQLiteConnection) throws(StoreError) -> Int? {
        let tables: Int64
        let hasVersionTable: Int64
        do {
            tables = try db.scalar("SELECT count(*) FROM sqlite_master") ?? 0
            hasVersionTable = try db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'") ?? 0
        } catch {
            if db.lastErrorCode == SQLITE_NOTADB { throw .database(path: db.path, message: "not an SQLite database") }
            throw error
        }
        if hasVersionTable == 0 {
            if tables == 0 { return nil }
            throw .foreign(path: db.path)
        }
        return Int(try db.scalar("SELECT max(version) FROM schema_version") ?? 0)
    }

    /// Checks a database opened read-only: it must be an adaneg database at exactly the
    /// current version (a reader cannot migrate). Every failure names what the file is.
    static func checkReadable(_ db: SQLiteConnection) throws(StoreError) {
        guard let version = try identify(db) else {
            throw .database(path: db.path, message: "an SQLite database without tables, not an adaneg one (it has no schema_version table)")
        }
        if version > currentVersion { throw .newerSchema(path: db.path, found: version, supported: currentVersion) }
        if version < currentVersion {
            throw .database(path: db.path, message: "schema version \(version) is older than this adaneg's \(currentVersion); readers do not migrate: open it once with `adaneg serve --db` or `adaneg run` (which migrate it)")
        }
    }

    /// Applies the schema to a new database, migrates an older one, refuses a newer one and
    /// another program's, before anything is written (the journal mode included), so a
    /// refused file stays byte-identical.
    static func prepare(_ db: SQLiteConnection) throws(StoreError) {
        if let version = try identify(db), version > currentVersion {
            throw .newerSchema(path: db.path, found: version, supported: currentVersion)
        }
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        try db.execute("PRAGMA foreign_keys = ON")
        try db.transaction { () throws(StoreError) in
            var version = try identify(db) ?? 0
            if version > currentVersion {
                throw .newerSchema(path: db.path, found: version, supported: currentVersion)
            }
            if version == 0 {
                try db.execute(try baseSQL())
                try db.prepare("INSERT INTO schema_version (version) VALUES (?)").run([.int(Int64(currentVersion))])
                return
            }
            while version < currentVersion {
                if let sql = migrations[version] { try db.execute(sql) }
                version += 1
                try db.prepare("UPDATE schema_version SET version = ?").run([.int(Int64(version))])
            }
        }
    }
}
