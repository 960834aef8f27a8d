import AdaNeg
import Coordinator
import Foundation
import Hummingbird
import JobClient
import JobPlan
import JobProtocol
import JobSpec
import Logging
import NPY
import ServiceLifecycle
import Worker

// Coordinator benchmarks (issue targets in parentheses). Run: bash bench/coordinator.sh
// `AdaNegBench scale …` is the scale simulation instead (Scale.swift, bench/scale.sh);
// `AdaNegBench hash …` the cost of checking an input file's digest (HashBench.swift, bench/hash.sh).

if let mode = CommandLine.arguments.dropFirst().first, mode == "scale" || mode == "scale-clients" || mode == "scale-serve" {
    do {
        try await Scale.main(mode: mode, arguments: Array(CommandLine.arguments.dropFirst(2)))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("AdaNegBench \(mode): \(error)\n".utf8))
        exit(1)
    }
}

if CommandLine.arguments.dropFirst().first == "hash" {
    do {
        try HashBench.main(arguments: Array(CommandLine.arguments.dropFirst(2)))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("AdaNegBench hash: \(error)\n".utf8))
        exit(1)
    }
}

let work = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }
let quiet: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}()

// `AdaNegBench tls [ROUNDS]`: round trips over HTTPS against plain HTTP (TLSBench.swift).
if CommandLine.arguments.dropFirst().first == "tls" {
    do {
        try await TLSBench.main(arguments: Array(CommandLine.arguments.dropFirst(2)))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("AdaNegBench tls: \(error)\n".utf8))
        exit(1)
    }
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let t0 = Date()
    try await body()
    return Date().timeIntervalSince(t0)
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

/// A features-only job: `idCount` ID samples, `oodSets` OOD sets of `oodCount`, D = `dim`.
func writeJob(name: String, idCount: Int, oodSets: Int, oodCount: Int, dim: Int, classes: Int, negatives: Int,
              batch: Int, unitBatches: Int, extra: String = "") throws -> JobSpec {
    let dir = work.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var rng = SplitMix64(seed: 1)
    func matrix(_ rows: Int) -> [Float] { (0..<(rows * dim)).map { _ in Float(rng.nextGaussian()) } }
    try NPYFile.writeMatrix(matrix(classes + negatives), rows: classes + negatives, cols: dim, to: dir.appendingPathComponent("text.npy").path)
    try NPYFile.writeMatrix(matrix(idCount), rows: idCount, cols: dim, to: dir.appendingPathComponent("id.npy").path)
    try NPYFile.write(.int64((0..<idCount).map { $0 % classes }, shape: [idCount]), to: dir.appendingPathComponent("id-labels.npy").path)
    var ood = ""
    for k in 0..<oodSets {
        try NPYFile.writeMatrix(matrix(oodCount), rows: oodCount, cols: dim, to: dir.appendingPathComponent("ood\(k).npy").path)
        ood += "  - {name: ood\(k), features: ood\(k).npy}\n"
    }
    let yaml = """
    name: \(name)
    id: {num_classes: \(classes), features: id.npy, labels: id-labels.npy}
    ood:
    \(ood)negatives: {count: \(negatives), text_features: text.npy}
    scoring: {batch_size: \(batch)}
    unit_batches: \(unitBatches)
    \(extra)
    """
    return try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir.path)
}

func startServer(_ coordinator: Coordinator) async throws -> InProcessServer {
    try await InProcessServer.start(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0), logger: quiet)
}

print("| benchmark | result | target |")
print("|---|---|---|")

// MARK: Planning a 300,000-sample job
do {
    let spec = try writeJob(name: "plan300k", idCount: 50_000, oodSets: 5, oodCount: 10_000, dim: 8, classes: 100,
                            negatives: 500, batch: 256, unitBatches: 8)
    let coordinator = try Coordinator(databasePath: work.appendingPathComponent("plan.sqlite").path, logger: quiet)
    var reply: SubmitResponse?
    let t = try await seconds { reply = try await coordinator.submit(spec) }
    print(String(format: "| plan a %d-sample job (%d tasks, %d units) | %.2f s | ≤ 10 s |", reply?.samples ?? 0, reply?.tasks ?? 0, reply?.units ?? 0, t))
}

// MARK: Merging 256-entry deltas into an ImageNet-shaped bank
do {
    let spec = try writeJob(name: "merge", idCount: 256, oodSets: 1, oodCount: 256, dim: 512, classes: 1000, negatives: 10_000,
                            batch: 256, unitBatches: 1)
    let coordinator = try Coordinator(databasePath: work.appendingPathComponent("merge.sqlite").path, logger: quiet)
    let job = try await coordinator.submit(spec)
    let task = try await coordinator.tasks(job: job.job)[0].id
    var rng = SplitMix64(seed: 9)
    var position = 0
    func delta() -> BankDelta {
        BankDelta(entries: (0..<256).map { _ in
            position += 1
            return BankEntry(row: Int(rng.next(upperBound: 11_000)), key: BankKey(primary: Float(rng.nextUnit()), position: position),
                             feature: (0..<512).map { _ in Float(rng.nextGaussian()) })
        })
    }
    // Fill the bank (about 99,000 entries offered), then time further merges.
    for _ in 0..<400 { _ = try await coordinator.syncBank(task: task, since: 0, delta: delta()) }
    var times = [Double]()
    var version: Int64 = 0
    for _ in 0..<100 {
        let d = delta()
        times.append(try await seconds { version = try await coordinator.syncBank(task: task, since: version, delta: d).version })
    }
    print(String(format: "| merge a 256-entry delta (D = 512) into an 11,000-row, L = 10 bank, with persistence | median %.2f ms, p95 %.2f ms | ≤ 5 ms |",
                 1000 * percentile(times, 0.5), 1000 * percentile(times, 0.95)))
}

// MARK: Lease + complete round trips with no-op clients
do {
    let spec = try writeJob(name: "trips", idCount: 6000, oodSets: 1, oodCount: 6000, dim: 8, classes: 10, negatives: 50,
                            batch: 1, unitBatches: 1)
    let coordinator = try Coordinator(databasePath: work.appendingPathComponent("trips.sqlite").path, logger: quiet)
    _ = try await coordinator.submit(spec)
    let server = try await startServer(coordinator)
    let url = URL(string: "http://127.0.0.1:\(server.port)")!
    let clients = 8
    let count = LockedCounter()
    let t = try await seconds { try await leaseCompleteRoundTrips(url: url, clients: clients, count: count) }
    await server.stop()
    print(String(format: "| lease + complete round trips, %d no-op clients on loopback | %.0f per second (%d in %.1f s) | ≥ 2,000/s |",
                 clients, Double(count.value) / t, count.value, t))
}

// MARK: Worker wait share with 8 workers, 100 ms per batch, sync after every batch
// (units of 8 batches, the job default: a lease and a completion per 8 batches, a sync per batch)
do {
    let spec = try writeJob(name: "wait", idCount: 8192, oodSets: 1, oodCount: 8192, dim: 64, classes: 100, negatives: 1000,
                            batch: 64, unitBatches: 8, extra: "sync_every: 1")
    let coordinator = try Coordinator(databasePath: work.appendingPathComponent("wait.sqlite").path, logger: quiet)
    _ = try await coordinator.submit(spec)
    let server = try await startServer(coordinator)
    let url = URL(string: "http://127.0.0.1:\(server.port)")!
    let reports = try await withThrowingTaskGroup(of: WorkerReport.self) { group in
        for i in 0..<8 {
            group.addTask {
                let w = Worker(client: CoordinatorClient(base: url), options: WorkerOptions(id: "w\(i)", host: "bench", idlePoll: 0.05, simulatedBatchSeconds: 0.1), logger: quiet)
                try await w.run()
                return await w.report
            }
        }
        var all = [WorkerReport]()
        for try await report in group { all.append(report) }
        return all
    }
    await server.stop()
    let wait = reports.reduce(0) { $0 + $1.waitSeconds }, busy = reports.reduce(0) { $0 + $1.computeSeconds + $1.waitSeconds }
    print(String(format: "| share of worker time waiting on the coordinator, 8 workers, 100 ms/batch, sync every batch | %.2f%% (%d units) | ≤ 5%% |",
                 100 * wait / busy, reports.reduce(0) { $0 + $1.units }))
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
