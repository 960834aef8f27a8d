import AdaNegCore
import CSQLite
import Foundation
import Platform

/// A minimal SQLite connection: prepared statements, typed binding, transactions.
///
/// The coordinator is the only writer (`DatabaseLock` keeps other processes out), and it owns
/// exactly one connection (inside the `Coordinator` actor), so this type needs no locking of
/// its own.
final class SQLiteConnection {
    private var handle: OpaquePointer?
    let path: String

    /// - Parameter readOnly: open with `SQLITE_OPEN_READONLY` (never create, never write).
    ///   With `immutable`, the file is opened as `file:…?immutable=1`: no locks and no `-shm`
    ///   file, which is what a WAL database on read-only media needs; only for files that
    ///   nothing writes to.
    init(path: String, readOnly: Bool = false, immutable: Bool = false) throws(StoreError) {
        self.path = path
        // An existing path must be a regular file: SQLite would block on a FIFO's open.
        if FileManager.default.fileExists(atPath: path) {
            do { try RegularFile.check(path) } catch { throw .database(path: path, message: error.reason) }
        }
        var db: OpaquePointer?
        let flags = readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (immutable ? SQLITE_OPEN_URI : 0)
            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let name = immutable ? Self.immutableURI(path) : path
        guard sqlite3_open_v2(name, &db, flags, nil) == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw .database(path: path, message: message)
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
    }

    private static func immutableURI(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let escaped = absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#"))) ?? absolute
        return "file:" + escaped + "?immutable=1"
    }

    /// The result code of the last failed call (SQLITE_NOTADB, SQLITE_CANTOPEN, …).
    var lastErrorCode: Int32 { sqlite3_errcode(handle) }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    // MARK: Statements

    func execute(_ sql: String) throws(StoreError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        guard rc == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? lastError
            sqlite3_free(error)
            noteFailure(rc, message: message)
            throw .database(path: path, message: message)
        }
    }

    /// The first failure of the storage under the database (a full disk, an I/O error), kept
    /// for whoever owns the process: `run` stops on it, `serve` keeps answering 5xx and waits
    /// for space. The failed transaction was rolled back, so nothing stored is lost.
    private(set) var storageFailure: StoreError?

    /// Records `rc` as the storage failure when it is one.
    func noteFailure(_ rc: Int32, message code: String) {
        guard storageFailure == nil else { return }
        // The operating system's reason (ENOSPC, EFBIG, EIO…) says what to free or fix.
        let system = sqlite3_system_errno(handle)
        let message = system == 0 ? code : "\(code); \(String(cString: strerror(system)))"
        switch rc & 0xFF {
        case SQLITE_FULL:
            storageFailure = .database(path: path, message: "the disk holding it is full (SQLite: \(message)); what was stored is kept")
        case SQLITE_IOERR:
            storageFailure = .database(path: path, message: "an I/O error writing it (SQLite: \(message)); what was stored is kept")
        default: break
        }
    }

    /// Statements of the hot paths (leases, completions, merges, heartbeats), compiled once per
    /// connection: SQLite's parser and code generator cost more than running a small statement.
    private var statements: [String: Statement] = [:]

    /// Runs `body` with `sql` compiled once and kept (`statements`), reset afterwards so no
    /// read stays open between uses (it would hold the WAL back). A statement already in use
    /// further up the stack (a nested call with the same SQL) gets a fresh one instead.
    func cached<T>(_ sql: String, _ body: (Statement) throws(StoreError) -> T) throws(StoreError) -> T {
        let statement: Statement
        if let kept = statements[sql], !kept.inUse {
            statement = kept
        } else {
            statement = try prepare(sql)
            if statements[sql] == nil { statements[sql] = statement }
        }
        statement.inUse = true
        defer {
            statement.reset()
            statement.inUse = false
        }
        return try body(statement)
    }

    /// Runs a write statement with `values`, compiled once (`cached`).
    func run(_ sql: String, _ values: [SQLValue]) throws(StoreError) {
        try cached(sql) { s throws(StoreError) in try s.run(values) }
    }

    /// Runs a statement without results (transaction control), compiled once.
    func executeCached(_ sql: String) throws(StoreError) {
        try cached(sql) { s throws(StoreError) in try s.run([]) }
    }

    func prepare(_ sql: String) throws(StoreError) -> Statement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw .database(path: path, message: "\(lastError) in: \(sql)")
        }
        return Statement(stmt, connection: self)
    }

    /// Runs `body` in one transaction; rolls back if it throws.
    /// Runs `body` atomically. Inside a transaction already (a group commit, `GroupCommit`), a
    /// savepoint: the body is still all or nothing, and the enclosing transaction goes on.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        let nested = sqlite3_get_autocommit(handle) == 0
        try executeCached(nested ? "SAVEPOINT nested" : "BEGIN IMMEDIATE")
        do {
            let value = try body()
            try executeCached(nested ? "RELEASE nested" : "COMMIT")
            return value
        } catch {
            if nested {
                try? executeCached("ROLLBACK TO nested")
                try? executeCached("RELEASE nested")
            } else {
                try? executeCached("ROLLBACK")
            }
            throw error
        }
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    var changes: Int { Int(sqlite3_changes(handle)) }
    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// Reads one integer (first column of the first row), or nil.
    func scalar(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Int64? {
        let stmt = try prepare(sql)
        try stmt.bind(values)
        guard try stmt.step() else { return nil }
        return stmt.isNull(0) ? nil : stmt.int(0)
    }
}

/// A value bound to a statement parameter.
enum SQLValue {
    case int(Int64)
    case double(Double)
    case text(String)
    case blob(Data)
    case null
}

/// A prepared statement; reset and rebound for each use.
final class Statement {
    private let stmt: OpaquePointer
    private unowned let connection: SQLiteConnection
    /// Held by a `SQLiteConnection.cached` call now.
    fileprivate var inUse = false

    init(_ stmt: OpaquePointer, connection: SQLiteConnection) {
        self.stmt = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(stmt) }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ values: [SQLValue]) throws(StoreError) {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case let .int(v): rc = sqlite3_bind_int64(stmt, index, v)
            case let .double(v): rc = sqlite3_bind_double(stmt, index, v)
            case let .text(v): rc = sqlite3_bind_text(stmt, index, v, -1, Self.transient)
            case let .blob(v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), Self.transient) }
            case .null: rc = sqlite3_bind_null(stmt, index)
            }
            guard rc == SQLITE_OK else { throw .database(path: connection.path, message: connection.lastError) }
        }
    }

    /// Ends a use: a read in progress is closed (bindings stay until the next `bind`).
    func reset() { sqlite3_reset(stmt) }

    /// Binds parameter `index` (from 1) without building a value array: for statements run
    /// thousands of times per request (a completion's result rows).
    func bind(_ index: Int32, int value: Int64) throws(StoreError) { try check(sqlite3_bind_int64(stmt, index, value)) }
    func bind(_ index: Int32, double value: Double) throws(StoreError) { try check(sqlite3_bind_double(stmt, index, value)) }
    func bind(_ index: Int32, text value: String) throws(StoreError) { try check(sqlite3_bind_text(stmt, index, value, -1, Self.transient)) }
    func bindNull(_ index: Int32) throws(StoreError) { try check(sqlite3_bind_null(stmt, index)) }

    private func check(_ rc: Int32) throws(StoreError) {
        guard rc == SQLITE_OK else { throw .database(path: connection.path, message: connection.lastError) }
    }

    /// Runs a statement bound with the `bind(_:…)` calls above to completion, then resets it
    /// for the next rows' bindings.
    func runBound() throws(StoreError) {
        defer { sqlite3_reset(stmt) }
        while try step() {}
    }

    /// Advances; true while a row is available.
    @discardableResult
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            connection.noteFailure(rc, message: connection.lastError)
            throw .database(path: connection.path, message: connection.lastError)
        }
    }

    /// Binds and runs to completion (for writes).
    func run(_ values: [SQLValue]) throws(StoreError) {
        try bind(values)
        while try step() {}
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(stmt, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(stmt, column) else { return nil }
        return String(cString: p)
    }

    func blob(_ column: Int32) -> Data {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let p = sqlite3_column_blob(stmt, column) else { return Data() }
        return Data(bytes: p, count: count)
    }
}
