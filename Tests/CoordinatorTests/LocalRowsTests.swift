import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import Logging
import NPY
import Synchronization
import Testing
@testable import Worker

/// Workers reading a leased unit's rows from their own copies of the feature files (`--rows`,
/// `LocalUnitRows`, issue 26 target a): the same bits as the coordinator's rows route, a copy
/// that is not the recorded content never scored, and the route as the fallback.
@Suite("Rows read locally", .serialized)
struct LocalRowsTests {
    static let shape = SyntheticBenchmark.Shape(classes: 12, negatives: 60, dimension: 16, idSamples: 200, oodSamples: 120)
    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    static func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-local-rows-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func worker(_ api: any CoordinatorAPI, rows: RowsSource) -> Worker {
        var options = WorkerOptions(id: "w0", host: "test", idlePoll: 0.01)
        options.rows = rows
        return Worker(api: api, options: options, logger: quiet)
    }

    /// A coordinator on its own database in `dir`, with the job in `dir` submitted.
    static func coordinator(_ dir: URL, job: FeaturesJob, database: String, maxAttempts: Int = 3) async throws -> Coordinator {
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent(database).path,
                                          configuration: .init(maxAttempts: maxAttempts), logger: quiet)
        _ = try await coordinator.submit(try job.spec())
        return coordinator
    }

    /// Every task's stored results in stream order.
    static func results(_ coordinator: Coordinator) async throws -> [[ResultRecord]] {
        var out = [[ResultRecord]]()
        for task in try await coordinator.tasks(job: 1) {
            out.append(try await coordinator.results(task: task.id).sorted { $0.position < $1.position })
        }
        return out
    }

    static func bits(_ rows: UnitRows) -> [UInt32] { rows.values.map(\.bitPattern) }

    @Test("rows read from the worker's copy are the route's bits (float32 and float16 files), and the unit scores bit-identically", arguments: [false, true])
    func localEqualsRoute(float16: Bool) async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try FeaturesJob(in: dir, shape: Self.shape, batchSize: 32)
        if float16 {
            for (file, m) in [("id.npy", job.data.idFeatures)] + job.data.oodSets.map({ ("ood-\($0.kind.rawValue).npy", $0.features) }) {
                _ = try InputDigestTests.writeFloat16(m, to: "\(dir.path)/\(file)")
            }
        }
        // Each unit's rows, both ways, under the same lease.
        let probe = try await Self.coordinator(dir, job: job, database: "probe.sqlite")
        let plan = try await probe.plan(job: 1)
        let local = LocalUnitRows(source: .local) { Issue.record("nothing to log: \($0)") }
        var units = 0
        for worker in ["w0", "w1", "w2", "w3"] {
            let grant = try #require(try await probe.lease(worker: worker, host: "h").grant)
            let route = try UnitRowsWire.decode(try await probe.unitRows(unit: grant.unit, worker: worker, attempt: grant.attempt).encoded())
            let read = try #require(try await local.rows(sets: grant.sets, items: grant.items, plan: plan))
            #expect(read.rowIndex == route.rowIndex && read.rowIndex.allSatisfy { $0 != nil } && Self.bits(read) == Self.bits(route), "unit \(grant.unit)")
            units += 1
        }
        #expect(units == 4 && local.unitsRead.local == 4)

        // The whole job scored by one worker each way, on two databases.
        let viaRoute = try await Self.coordinator(dir, job: job, database: "route.sqlite")
        let routeAPI = InProcessAPI(coordinator: viaRoute)
        try await Self.worker(routeAPI, rows: .coordinator).run()
        let viaFile = try await Self.coordinator(dir, job: job, database: "local.sqlite")
        let fileAPI = InProcessAPI(coordinator: viaFile)
        try await Self.worker(fileAPI, rows: .local).run()
        #expect(routeAPI.log.count("rows") == routeAPI.log.count("complete") && routeAPI.log.count("complete") > 0)
        #expect(fileAPI.log.count("rows") == 0 && fileAPI.log.count("complete") == routeAPI.log.count("complete"))
        let expected = try await Self.results(viaRoute), found = try await Self.results(viaFile)
        #expect(expected.joined().count == Self.shape.idSamples * 2 + Self.shape.oodSamples * 2)
        #expect(expected.joined().allSatisfy { $0.error == nil && $0.conf != nil })
        #expect(found == expected)
        let confBits = { (r: [[ResultRecord]]) in r.joined().map { [$0.conf?.bitPattern, $0.confVanilla?.bitPattern, $0.mcm?.bitPattern, $0.adaptive?.bitPattern] } }
        #expect(confBits(found) == confBits(expected))
    }

    /// The worker's view of the job when its copies of the feature files live elsewhere (another
    /// machine's paths): the plan names `copies` where the coordinator's files are in `original`,
    /// with the digests recorded for the originals.
    struct RelocatedAPI: CoordinatorAPI {
        let inner: InProcessAPI
        let original: String
        let copies: String

        func plan(job: Int64) async throws -> WorkPlan {
            var plan = try await inner.plan(job: job)
            for i in plan.sets.indices {
                guard let path = plan.sets[i].features, path.hasPrefix(original) else { continue }
                let moved = copies + path.dropFirst(original.count)
                plan.sets[i].features = moved
                if let digest = plan.inputs?.removeValue(forKey: path) { plan.inputs?[moved] = digest }
            }
            return plan
        }

        func lease(worker: String, host: String) async throws -> LeaseResponse { try await inner.lease(worker: worker, host: host) }
        func rows(unit: Int64, worker: String, attempt: Int) async throws -> UnitRows { try await inner.rows(unit: unit, worker: worker, attempt: attempt) }
        func heartbeat(unit: Int64, worker: String) async throws -> Bool { try await inner.heartbeat(unit: unit, worker: worker) }
        func complete(unit: Int64, _ request: CompletionRequest) async throws -> CompletionOutcome { try await inner.complete(unit: unit, request) }
        func fail(unit: Int64, worker: String, error: String) async throws { try await inner.fail(unit: unit, worker: worker, error: error) }
        func release(unit: Int64, worker: String) async throws { try await inner.release(unit: unit, worker: worker) }
        func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
            try await inner.syncBank(task: task, request, dimension: dimension)
        }
        func retrying(within seconds: Double) -> RelocatedAPI { self }
    }

    enum CopyState: String, CaseIterable {
        case same, changed, missing
    }

    @Test("auto reads an identical copy; a changed or missing copy is never scored: auto takes the route's rows (same results), local fails the units naming the file",
          arguments: CopyState.allCases)
    func copyElsewhere(state: CopyState) async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = dir.appendingPathComponent("coordinator"), copies = dir.appendingPathComponent("worker")
        for d in [original, copies] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let job = try FeaturesJob(in: original, shape: Self.shape, kinds: [.covered], batchSize: 32)
        for file in try FileManager.default.contentsOfDirectory(atPath: original.path) where file.hasSuffix(".npy") {
            try FileManager.default.copyItem(atPath: "\(original.path)/\(file)", toPath: "\(copies.path)/\(file)")
        }
        let copy = "\(copies.path)/ood-covered.npy"
        switch state {
        case .same: break
        case .changed:
            // Same size, one value's low bit flipped: only the digest tells.
            var data = try Data(contentsOf: URL(fileURLWithPath: copy))
            data[data.count - 1] ^= 0x01
            try data.write(to: URL(fileURLWithPath: copy))
        case .missing:
            try FileManager.default.removeItem(atPath: copy)
        }
        let reference = try await Self.coordinator(original, job: job, database: "reference.sqlite")
        try await Self.worker(InProcessAPI(coordinator: reference), rows: .coordinator).run()
        let expected = try await Self.results(reference)

        let auto = try await Self.coordinator(original, job: job, database: "auto.sqlite")
        let autoAPI = InProcessAPI(coordinator: auto)
        let warnings = LogCapture()
        var options = WorkerOptions(id: "w0", host: "test", idlePoll: 0.01)
        options.rows = .auto
        var logger = Logger(label: "test") { _ in warnings }
        logger.logLevel = .warning
        let worker = Worker(api: RelocatedAPI(inner: autoAPI, original: original.path, copies: copies.path), options: options, logger: logger)
        try await worker.run()
        #expect(try await Self.results(auto) == expected)
        let units = autoAPI.log.count("complete")
        if state == .same {
            #expect(autoAPI.log.count("rows") == 0 && warnings.lines.isEmpty, "\(warnings.lines)")
        } else {
            // Every unit reads the changed or missing OOD file: all from the route, logged once.
            #expect(autoAPI.log.count("rows") == units && units > 0)
            #expect(warnings.lines.count == 1 && warnings.lines[0].contains(copy), "\(warnings.lines)")
        }

        let strict = try await Self.coordinator(original, job: job, database: "local.sqlite", maxAttempts: 1)
        let strictAPI = InProcessAPI(coordinator: strict)
        try await Self.worker(RelocatedAPI(inner: strictAPI, original: original.path, copies: copies.path), rows: .local).run()
        #expect(strictAPI.log.count("rows") == 0)
        let status = try await strict.status(job: "test-job")
        if state == .same {
            #expect(try await Self.results(strict) == expected && status.units.failed == 0)
        } else {
            #expect(status.units.done == 0 && status.units.failed == status.units.total)
            let reason = state == .changed ? "changed since submission" : "no such file"
            for failed in status.failed {
                #expect(failed.error.contains("--rows local") && failed.error.contains(copy) && failed.error.contains(reason), "\(failed.error)")
            }
        }
    }

    @Test("a copy changed after it was checked is not used again: auto falls back (logged once per file), local throws naming it")
    func changedBetweenUnits() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered], batchSize: 32)
        let plan = try Planner.plan(try job.spec(), models: CLIPModelFacts()).plan(1)
        let logged = Mutex<[String]>([])
        let auto = LocalUnitRows(source: .auto) { line in logged.withLock { $0.append(line) } }
        let strict = LocalUnitRows(source: .local) { _ in }
        let sets = [0, 1, 1], items = [3, 0, 7]
        let before = try #require(try await auto.rows(sets: sets, items: items, plan: plan))
        #expect(before.rowIndex == [0, 1, 2] && before.values.count == 3 * Self.shape.dimension)
        #expect(try await strict.rows(sets: sets, items: items, plan: plan) != nil)
        // The OOD file rewritten with other values of the same size.
        let path = "\(dir.path)/ood-covered.npy"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count - 2] ^= 0x40
        try data.write(to: URL(fileURLWithPath: path))
        #expect(try await auto.rows(sets: sets, items: items, plan: plan) == nil)
        #expect(try await auto.rows(sets: sets, items: items, plan: plan) == nil)
        #expect(logged.withLock { $0.count } == 1 && logged.withLock { $0[0].contains(path) && $0[0].contains("changed since submission") })
        await #expect {
            _ = try await strict.rows(sets: sets, items: items, plan: plan)
        } throws: { error in
            "\(error)".contains("--rows local") && "\(error)".contains(path)
        }
        // Under coordinator the files are not looked at at all.
        let route = LocalUnitRows(source: .coordinator) { _ in Issue.record("coordinator mode checks no file") }
        #expect(try await route.rows(sets: sets, items: items, plan: plan) == nil)
        #expect(auto.unitsRead.local == 1 && auto.unitsRead.coordinator == 2)
    }

    @Test("a plan from before digests were recorded: auto leaves the rows to the coordinator (logged once), local refuses naming the file")
    func noRecordedDigest() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered], batchSize: 32)
        var plan = try Planner.plan(try job.spec(), models: CLIPModelFacts()).plan(1)
        plan.inputs = nil
        let logged = Mutex<[String]>([])
        let auto = LocalUnitRows(source: .auto) { line in logged.withLock { $0.append(line) } }
        #expect(try await auto.rows(sets: [0, 1], items: [0, 0], plan: plan) == nil)
        #expect(try await auto.rows(sets: [0], items: [1], plan: plan) == nil)
        #expect(logged.withLock { $0.count == 1 && $0[0].contains("\(dir.path)/id.npy") && $0[0].contains("no content digest") }, "\(logged.withLock { $0 })")
        await #expect {
            _ = try await LocalUnitRows(source: .local) { _ in }.rows(sets: [1], items: [0], plan: plan)
        } throws: { error in
            "\(error)".contains("--rows local") && "\(error)".contains("\(dir.path)/ood-covered.npy") && "\(error)".contains("no content digest")
        }
    }

    @Test("--rows takes auto, local or coordinator; anything else is refused naming the flag")
    func parse() throws {
        #expect(try RowsSource.parse("auto") == .auto && RowsSource.parse("local") == .local && RowsSource.parse("coordinator") == .coordinator)
        for bad in ["", "Local", "remote", "auto "] {
            #expect(throws: RowsSourceError.self) { try RowsSource.parse(bad) }
            do { _ = try RowsSource.parse(bad) } catch { #expect(error.description == "--rows must be auto, local, coordinator (got '\(bad)')") }
        }
        #expect(WorkerOptions(id: "w", host: "h").rows == .auto)
    }
}

/// Collects the warnings a worker logs.
final class LogCapture: LogHandler, @unchecked Sendable {
    private let store = Mutex<[String]>([])
    var lines: [String] { store.withLock { $0 } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        if event.level >= .warning { store.withLock { $0.append(event.message.description) } }
    }
}
