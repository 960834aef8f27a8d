import AdaNegCore
import Foundation

// `sweep --coordinator`: a grid over a job's stored features, scored by the workers of a fleet.
// The coordinator splits the grid into units of (task, chunk of points), so a worker shares
// each batch's static half among the chunk's points as `sweep --db` does; a worker posts one
// set per point of its unit (`SetReport`, in its stored JSON), stored in `sweep_sets`.

/// `POST /v1/sweeps`: a grid for a job with stored features, in `--set` form.
public struct SweepRequest: Codable, Sendable {
    /// The job's name.
    public var job: String
    /// `NAME=V1,V2,…` or `NAME=FROM:TO:STEP`, as `--set` takes them.
    public var sets: [String]
    /// `--max-points` (default `SweepGrid.defaultMaxPoints`).
    public var maxPoints: Int?

    public init(job: String, sets: [String], maxPoints: Int? = nil) {
        self.job = job
        self.sets = sets
        self.maxPoints = maxPoints
    }

    enum CodingKeys: String, CodingKey {
        case job, sets, maxPoints = "max_points"
    }
}

/// A sweep's units by state.
public struct SweepUnitCounts: Codable, Sendable, Equatable {
    public var pending = 0, leased = 0, done = 0, failed = 0

    public init(pending: Int = 0, leased: Int = 0, done: Int = 0, failed: Int = 0) {
        (self.pending, self.leased, self.done, self.failed) = (pending, leased, done, failed)
    }

    public var total: Int { pending + leased + done + failed }
    /// No unit is waiting or in a worker's hands.
    public var isFinished: Bool { pending == 0 && leased == 0 }
}

/// A sweep's progress (`POST /v1/sweeps`, `GET /v1/sweeps/{id}`).
public struct SweepStatus: Codable, Sendable {
    /// The grid's key: the same job and points give the same id, so submitting again resumes.
    public var id: String
    public var job: String
    public var jobID: Int64
    /// Points in the grid, and (point, task) pairs still to score when it was submitted.
    public var points: Int
    public var units: SweepUnitCounts
    /// Point-tasks scored by the units done so far, of `pointTasks` the units hold.
    public var pointTasksDone: Int
    public var pointTasks: Int
    /// The last error of each failed unit (a unit fails after the coordinator's attempts).
    public var failures: [String]
    /// False when this grid was submitted before (the call resumed it).
    public var created: Bool

    public init(id: String, job: String, jobID: Int64, points: Int, units: SweepUnitCounts, pointTasksDone: Int, pointTasks: Int,
                failures: [String], created: Bool) {
        self.id = id
        self.job = job
        self.jobID = jobID
        self.points = points
        self.units = units
        self.pointTasksDone = pointTasksDone
        self.pointTasks = pointTasks
        self.failures = failures
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case id, job, jobID = "job_id", points, units, pointTasksDone = "point_tasks_done", pointTasks = "point_tasks", failures, created
    }
}

/// `GET /v1/sweeps/{id}/results`: what is stored for the grid's points. A point is either
/// finished (`result`: a `sweep --db` point, with its average) or has the sets of the tasks
/// scored so far (`sets`: stored `SetReport`s, from workers or from `sweep --db`).
public struct SweepResults: Codable, Sendable {
    public var id: String
    public var job: String
    /// The job's tasks in order: a point's sets follow it.
    public var tasks: [Int64]
    public var points: [StoredPoint]

    public struct StoredPoint: Codable, Sendable {
        public var params: ScoringParameters
        public var result: String?
        public var sets: [StoredSet]

        public init(params: ScoringParameters, result: String?, sets: [StoredSet]) {
            (self.params, self.result, self.sets) = (params, result, sets)
        }
    }

    public struct StoredSet: Codable, Sendable {
        public var task: Int64
        public var result: String

        public init(task: Int64, result: String) { (self.task, self.result) = (task, result) }
    }

    public init(id: String, job: String, tasks: [Int64], points: [StoredPoint]) {
        (self.id, self.job, self.tasks, self.points) = (id, job, tasks, points)
    }
}

/// `POST /v1/sweep-leases` answers one sweep unit, or none.
public struct SweepLeaseResponse: Codable, Sendable {
    public var grant: SweepGrant?

    public init(grant: SweepGrant?) { self.grant = grant }
}

/// A leased sweep unit: one task of a job and the points to score over it.
public struct SweepGrant: Codable, Sendable {
    public var unit: Int64
    public var sweep: String
    public var job: Int64
    /// The task (its names and sample count go into each set).
    public var task: TaskRecord
    public var points: [ScoringParameters]
    public var attempt: Int
    public var leaseSeconds: Double

    public init(unit: Int64, sweep: String, job: Int64, task: TaskRecord, points: [ScoringParameters], attempt: Int, leaseSeconds: Double) {
        self.unit = unit
        self.sweep = sweep
        self.job = job
        self.task = task
        self.points = points
        self.attempt = attempt
        self.leaseSeconds = leaseSeconds
    }
}

/// `POST /v1/sweep-units/{unit}/complete`: one set per point of the unit, keyed by the point's
/// `pointKey`, each in its stored JSON (`SweepStoredJSON`: a metric can be NaN or infinite).
public struct SweepCompletion: Codable, Sendable {
    public var worker: String
    public var attempt: Int
    public var sets: [PointSet]

    public struct PointSet: Codable, Sendable {
        public var point: String
        public var result: String

        public init(point: String, result: String) { (self.point, self.result) = (point, result) }
    }

    public init(worker: String, attempt: Int, sets: [PointSet]) {
        (self.worker, self.attempt, self.sets) = (worker, attempt, sets)
    }
}

/// `POST /v1/sweep-units/{unit}/heartbeat` and `…/fail`.
public struct SweepUnitRequest: Codable, Sendable {
    public var worker: String
    public var attempt: Int
    public var error: String?

    public init(worker: String, attempt: Int, error: String? = nil) {
        (self.worker, self.attempt, self.error) = (worker, attempt, error)
    }
}

extension WorkPlan {
    /// Why the job cannot be swept for want of stored features (`keep_features: false`), in
    /// the words `sweep --db` and the coordinator both answer; nil when it can.
    public var sweepRefusal: String? {
        guard sets.contains(where: \.isImages) && !keepFeatures else { return nil }
        return "job '\(jobName)' ran with keep_features: false: its image features were dropped when it was done, so there are no stored features to sweep over (a sweep never embeds; `rescore` embeds the images again, and a job run with keep_features: true can be swept)"
    }
}

/// A task's stored features as a sweep unit's holder reads them
/// (`GET /v1/sweep-units/{unit}/features`): the rows with a feature, L2-normalised as the
/// coordinator's reader normalised them, their stream positions (batches are cut by position)
/// and labels, and how many samples have none.
/// Binary, little-endian: "ADSF", version u32, rows u32, dimension u32, errored u32, then a
/// stream position i64 per row, a label i32 per row, then rows × dimension float32.
public struct SweepFeatures: Sendable, Equatable {
    public var rows: Int
    public var dimension: Int
    public var positions: [Int]
    public var labels: [Int]
    public var errored: Int
    /// Row-major, rows × dimension.
    public var features: [Float]

    public init(rows: Int, dimension: Int, positions: [Int], labels: [Int], errored: Int, features: [Float]) {
        (self.rows, self.dimension, self.positions, self.labels, self.errored, self.features) = (rows, dimension, positions, labels, errored, features)
    }

    static let magic: [UInt8] = Array("ADSF".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 20

    public var byteCount: Int { Self.headerBytes + rows * 12 + rows * dimension * 4 }

    /// Why a body is not one.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public func encoded() -> Data {
        var out = Data(count: byteCount)
        out.withUnsafeMutableBytes { write(into: $0) }
        return out
    }

    /// Writes the body into `out` (`byteCount` bytes): the coordinator writes it straight into
    /// the response buffer, so a task's features are not copied once more on the way out.
    public func write(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= byteCount, "a sweep features body needs \(byteCount) bytes")
        var at = 0
        func put<T: FixedWidthInteger>(_ v: T) {
            withUnsafeBytes(of: v.littleEndian) { UnsafeMutableRawBufferPointer(rebasing: out[at...]).copyMemory(from: $0) }
            at += MemoryLayout<T>.size
        }
        for (i, b) in Self.magic.enumerated() { out[i] = b }
        at = 4
        for v in [Self.version, UInt32(rows), UInt32(dimension), UInt32(errored)] { put(v) }
        for p in positions { put(Int64(p)) }
        for l in labels { put(Int32(truncatingIfNeeded: l)) }
        features.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[at...]).copyMemory(from: $0) }
    }

    public static func decode(_ data: Data) throws(Problem) -> SweepFeatures {
        let bytes = [UInt8](data)
        guard bytes.count >= headerBytes, Array(bytes[0..<4]) == magic else { throw Problem(description: "not a sweep features body (no ADSF header)") }
        func u32(_ at: Int) -> Int { Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24) }
        guard u32(4) == Int(version) else { throw Problem(description: "sweep features version \(u32(4)), expected \(version)") }
        let rows = u32(8), dimension = u32(12), errored = u32(16)
        let (cells, overflow) = rows.multipliedReportingOverflow(by: dimension)
        guard !overflow, dimension > 0, cells <= Int.max / 8, bytes.count == headerBytes + rows * 12 + cells * 4 else {
            throw Problem(description: "sweep features body of \(bytes.count) bytes does not hold \(rows) rows of \(dimension) floats")
        }
        var positions = [Int](repeating: 0, count: rows), labels = [Int](repeating: 0, count: rows)
        for i in 0..<rows {
            let at = headerBytes + 8 * i
            positions[i] = Int(Int64(bitPattern: UInt64(u32(at)) | UInt64(u32(at + 4)) << 32))
            labels[i] = Int(Int32(bitPattern: UInt32(u32(headerBytes + 8 * rows + 4 * i))))
        }
        var features = [Float](repeating: 0, count: cells)
        let start = headerBytes + rows * 12
        features.withUnsafeMutableBytes { out in bytes.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start...])) } }
        return SweepFeatures(rows: rows, dimension: dimension, positions: positions, labels: labels, errored: errored, features: features)
    }
}

/// The sweep calls of a fleet worker (`CoordinatorClient` implements them over HTTP). A
/// coordinator without sweeps answers 404, which the worker takes as "no sweep units".
public protocol SweepAPI: Sendable {
    func leaseSweep(worker: String, host: String) async throws -> SweepLeaseResponse
    func sweepFeatures(unit: Int64, worker: String, attempt: Int) async throws -> SweepFeatures
    /// False: the unit is no longer this worker's.
    func heartbeatSweep(unit: Int64, worker: String, attempt: Int) async throws -> Bool
    /// False: the unit was done already (a duplicate, nothing stored).
    func completeSweep(unit: Int64, _ completion: SweepCompletion) async throws -> Bool
    func failSweep(unit: Int64, worker: String, attempt: Int, error: String) async throws
}
