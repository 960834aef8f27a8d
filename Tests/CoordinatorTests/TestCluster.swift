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
import Tensor
import Worker

/// A coordinator with its HTTP server on an ephemeral loopback port, for integration tests.
final class TestCluster: @unchecked Sendable {
    let directory: URL
    let coordinator: Coordinator
    let port: Int
    let server: InProcessServer

    init(token: String? = nil, leaseSeconds: Double = 30, maxBodyBytes: Int = 64 << 20,
         clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
         tokens: AccessTokens? = nil, registry: TokenRegistry? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        coordinator = try Coordinator(databasePath: directory.appendingPathComponent("db.sqlite").path,
                                      configuration: .init(leaseSeconds: leaseSeconds), models: CLIPModelFacts(), logger: logger, clock: clock)
        server = try await InProcessServer.start(coordinator: coordinator,
                                                 options: ServerOptions(host: "127.0.0.1", port: 0, token: token, maxBodyBytes: maxBodyBytes,
                                                                        tokens: registry ?? tokens.map(TokenRegistry.init)),
                                                 logger: logger)
        port = server.port
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func client(token: String? = nil) -> CoordinatorClient { CoordinatorClient(base: url, token: token, retryWindow: 5) }

    /// Runs `count` in-process workers until no work is left; their reports.
    func runWorkers(_ count: Int) async throws -> [WorkerReport] {
        try await withThrowingTaskGroup(of: WorkerReport.self) { group in
            for i in 0..<count {
                group.addTask {
                    let w = Worker(client: self.client(), options: WorkerOptions(id: "w\(i)", host: "test", idlePoll: 0.05))
                    try await w.run()
                    return await w.report
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    func shutdown() async {
        await server.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` against a fresh cluster and shuts the cluster down afterwards, awaited,
    /// whether the body returned or threw: no server or temporary folder outlives its test
    /// (a `defer { Task { … } }` would leave the shutdown racing the next test).
    static func with(token: String? = nil, leaseSeconds: Double = 30, maxBodyBytes: Int = 64 << 20,
                        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                        tokens: AccessTokens? = nil, registry: TokenRegistry? = nil,
                        _ body: (TestCluster) async throws -> Void) async throws {
        let cluster = try await TestCluster(token: token, leaseSeconds: leaseSeconds, maxBodyBytes: maxBodyBytes,
                                            clock: clock, tokens: tokens, registry: registry)
        do {
            try await body(cluster)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }
}

/// Synthetic features written as a features-only job.
struct FeaturesJob {
    let data: SyntheticBenchmark
    let yaml: String
    let directory: String

    init(in directory: URL, name: String = "test-job", shape: SyntheticBenchmark.Shape, seed: UInt64 = 3,
         kinds: [SyntheticBenchmark.OODKind] = [.covered, .uncovered], batchSize: Int = 64, unitBatches: Int = 2,
         memleng: Int = 6, proxy: ProxyKind = .task, syncEvery: Int = 1) throws {
        data = SyntheticBenchmark(shape: shape, seed: seed)
        let dir = directory.path
        self.directory = dir
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: data.text.cols, to: "\(dir)/text.npy")
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: data.idFeatures.cols, to: "\(dir)/id.npy")
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: "\(dir)/id-labels.npy")
        var ood = ""
        for kind in kinds {
            guard let set = data.oodSets.first(where: { $0.kind == kind }) else { continue }
            try NPYFile.writeMatrix(set.features.storage, rows: set.features.rows, cols: set.features.cols, to: "\(dir)/ood-\(kind.rawValue).npy")
            ood += "  - {name: \(kind.rawValue), group: far, features: ood-\(kind.rawValue).npy}\n"
        }
        yaml = """
        name: \(name)
        id:
          num_classes: \(shape.classes)
          features: id.npy
          labels: id-labels.npy
        ood:
        \(ood)negatives:
          text_features: text.npy
          count: \(shape.negatives)
        scoring: {batch_size: \(batchSize), memleng: \(memleng), proxy: \(proxy.rawValue)}
        seed: 5
        unit_batches: \(unitBatches)
        sync_every: \(syncEvery)
        """
    }

    func spec() throws -> JobSpec {
        try JobSpecLoader.parse(yaml: yaml, baseDirectory: directory)
    }

    /// Features of a stream in the coordinator's order.
    func features(sets: [Int], items: [Int], kinds: [SyntheticBenchmark.OODKind]) -> Matrix {
        var m = Matrix(rows: sets.count, cols: data.shape.dimension)
        for i in sets.indices {
            let row = sets[i] == 0 ? data.idFeatures.row(items[i])
                : data.oodSets.first { $0.kind == kinds[sets[i] - 1] }!.features.row(items[i])
            for c in 0..<m.cols { m[i, c] = row[c] }
        }
        return m
    }
}
