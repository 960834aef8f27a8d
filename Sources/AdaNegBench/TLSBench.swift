import AdaNeg
import Coordinator
import Foundation
import JobClient
import JobProtocol
import JobSpec
import Logging

/// `AdaNegBench tls`: the coordinator's round trips over HTTPS against plain HTTP, in the same
/// process and run (issue 23): lease + complete with no-op clients, and bank syncs (a 16-entry
/// push and the pull of what the others pushed, D = 512, the scale simulation's per-batch call),
/// each over keep-alive connections. Rounds alternate plain and TLS; each round records the load
/// average before and after. The certificate is made with openssl in a temporary folder.
enum TLSBench {
    static func main(arguments: [String]) async throws {
        let rounds = arguments.first.flatMap(Int.init) ?? 3
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-tlsbench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try makeCertificate(in: work)
        var quiet = Logger(label: "bench")
        quiet.logLevel = .critical
        print("| round | transport | lease+complete /s | bank sync median ms | bank sync p95 ms | load before | load after |")
        print("|---|---|---|---|---|---|---|")
        var trips: [String: [Double]] = [:], syncs: [String: [Double]] = [:]
        for round in 1...rounds {
            for tls in [false, true] {
                let name = tls ? "TLS" : "plain"
                let before = loadAverage()
                let (rate, median, p95) = try await run(tls: tls, work: work.appendingPathComponent("r\(round)-\(name)"), logger: quiet)
                let after = loadAverage()
                trips[name, default: []].append(rate)
                syncs[name, default: []].append(median)
                print(String(format: "| %d | %@ | %.0f | %.2f | %.2f | %@ | %@ |", round, name, rate, median, p95, before, after))
            }
        }
        func med(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let tripRatio = med(trips["TLS"]!) / med(trips["plain"]!)
        let syncRatio = med(syncs["TLS"]!) / med(syncs["plain"]!)
        print(String(format: "\nmedians over %d rounds: lease+complete %.0f/s plain, %.0f/s TLS (TLS/plain %.2f); bank sync %.2f ms plain, %.2f ms TLS (TLS/plain %.2f)",
                     rounds, med(trips["plain"]!), med(trips["TLS"]!), tripRatio, med(syncs["plain"]!), med(syncs["TLS"]!), syncRatio))
    }

    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)).map { $0.split(separator: " ").prefix(3).joined(separator: " ") } ?? "?"
    }

    static func makeCertificate(in dir: URL) throws {
        func openssl(_ arguments: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = arguments
            p.currentDirectoryURL = dir
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw TLSBenchError.openssl(arguments.joined(separator: " ")) }
        }
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA"])
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=bench"])
        try "subjectAltName=DNS:localhost\n".write(to: dir.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
                     "-days", "2", "-extfile", "san.ext"])
    }

    /// One round: a fresh coordinator, 8 clients leasing and completing 2,000 one-sample units (the
    /// bank job's units, 28, are leased too), then 4 clients syncing the bank 200 times each.
    static func run(tls: Bool, work: URL, logger: Logger) async throws -> (rate: Double, median: Double, p95: Double) {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // Round trips: 2,000 one-sample units. Bank syncs: a task of 14,000 positions for the
        // 12,800 entries pushed (every entry at its own position).
        let trips = try writeJob(name: "tls-trips", idCount: 1000, oodSets: 1, oodCount: 1000, dim: 8, classes: 10, negatives: 50,
                                 batch: 1, unitBatches: 1)
        let banks = try writeJob(name: "tls-banks", idCount: 1000, oodSets: 1, oodCount: 13_000, dim: 512, classes: 10, negatives: 50,
                                 batch: 500, unitBatches: 4)
        let coordinator = try Coordinator(databasePath: work.appendingPathComponent("db.sqlite").path, logger: logger)
        _ = try await coordinator.submit(trips)
        let job = try await coordinator.submit(banks)
        let certs = work.deletingLastPathComponent()
        let credentials = tls ? try ReloadableTLS(certificatePath: certs.appendingPathComponent("server.pem").path,
                                                  keyPath: certs.appendingPathComponent("server.key").path) : nil
        let server = try await InProcessServer.start(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0, tls: credentials), logger: logger)
        // Measured, then the server stopped (awaited) whether or not the measurement threw.
        let measured: Result<(rate: Double, median: Double, p95: Double), any Error>
        do {
            let url = URL(string: "\(tls ? "https" : "http")://localhost:\(server.port)")!
            let ca = tls ? certs.appendingPathComponent("ca.pem").path : nil
            let count = LockedCounter()
            let t = try await seconds { try await leaseCompleteRoundTrips(url: url, caFile: ca, clients: 8, count: count) }
            // Bank syncs: the scale simulation's per-batch call.
            let task = try await coordinator.tasks(job: job.job)[0].id
            let times = try await withThrowingTaskGroup(of: [Double].self) { group in
                for c in 0..<4 {
                    group.addTask {
                        let client = CoordinatorClient(base: url, caFile: ca)
                        var rng = SplitMix64(seed: UInt64(c + 1))
                        var version: Int64 = 0
                        var out = [Double]()
                        for i in 0..<200 {
                            let delta = BankDelta(entries: (0..<16).map { k in
                                BankEntry(row: Int(rng.next(upperBound: 60)), key: BankKey(primary: Float(rng.nextUnit()), position: c * 3200 + i * 16 + k),
                                          feature: (0..<512).map { _ in Float(rng.nextGaussian()) })
                            })
                            let request = BankSyncRequest(since: version, position: 0, delta: delta)
                            var reply: BankSyncReply?
                            out.append(try await seconds { reply = try await client.syncBank(task: task, request, dimension: 512) })
                            version = reply?.version ?? version
                        }
                        return out
                    }
                }
                var all = [Double]()
                for try await part in group { all += part }
                return all
            }
            measured = .success((Double(count.value) / t, 1000 * percentile(times, 0.5), 1000 * percentile(times, 0.95)))
        } catch {
            measured = .failure(error)
        }
        await server.stop()
        return try measured.get()
    }
}

enum TLSBenchError: Error {
    case openssl(String)
}
