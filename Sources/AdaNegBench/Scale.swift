import AdaNeg
import ArgumentParser
import Coordinator
import Foundation
import Hummingbird
import JobClient
import JobPlan
import JobProtocol
import JobSpec
import Logging
import ServiceLifecycle
import Worker

#if canImport(Glibc)
import Glibc
#endif

/// Scale simulation (issue 7): N simulated workers against one coordinator for a features job
/// of S samples, over the real HTTP protocol (`CoordinatorClient`, keep-alive connections).
///
/// `AdaNegBench scale [options]` is the coordinator: it writes the job's files (sparse `.npy`
/// files of the right shape: planning reads headers and labels only), plans the job, serves it
/// on loopback and starts `AdaNegBench scale-clients` as a child process, so the coordinator's
/// CPU time (getrusage of this process) is measured apart from the clients'. A simulated worker
/// does what `adaneg worker` does on the wire — lease, fetch the unit's rows and the plan, pull the task's bank,
/// per batch push a bank delta (D-dimensional entries) and pull everyone else's, heartbeat at a
/// third of the lease, complete with a full unit of results — but embeds and scores nothing
/// (a no-op embedder; optionally sleeping `--batch-ms` per batch).
///
/// Prints a Markdown table and one JSON line (prefix `SCALE-JSON `) with lease, sync, heartbeat
/// and completion latency percentiles, throughput, coordinator CPU and peak RSS. The database is
/// kept at `--db` so `bench/scale.sh` can measure its size per sample after a checkpoint.
enum Scale {
    /// The simulation's shape, parsed by ArgumentParser (`AdaNegBench scale --help`).
    struct Options: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "AdaNegBench scale|scale-clients",
                                                        abstract: "N simulated workers against one coordinator over HTTP.")

        @Option(help: "Samples in the job.") var samples = 1_000_000
        @Option(help: "Simulated workers.") var workers = 64
        @Option(name: .customLong("dim"), help: "Feature dimension D.") var dimension = 512
        @Option(help: "ID classes.") var classes = 1000
        @Option(help: "Negative labels.") var negatives = 10_000
        @Option(name: .customLong("entries"), help: "Bank entries pushed per batch.") var entriesPerBatch = 16
        @Option(name: .customLong("batch-ms"), help: "Milliseconds a simulated worker sleeps per batch.") var batchMilliseconds = 0.0
        @Option(help: "Batches per unit.") var unitBatches = 8
        @Option(help: "Samples per batch.") var batchSize = 256
        @Option(name: .customLong("lease"), help: "Lease seconds (serve's default).") var leaseSeconds = 60.0
        @Option(name: .customLong("db"), help: "Keep the coordinator's database here.") var database: String?
        @Option(name: .customLong("pull-kib"), help: "Coordinator: most KiB one bank pull carries.") var pullKiB = 256
        @Option(name: .customLong("max-behind"), help: "Coordinator: entries a worker may be behind when it scores (-1: no bound).") var maxBehind = -1
        @Option(name: .customLong("window"), help: "Coordinator: positions past the frontier a batch may be scored (-1: no bound, 0: automatic).") var window = -1
        @Option(name: .customLong("admission"), help: "Coordinator: requests in progress from which leases are deferred with a retryAfter (0: never).")
        var admission = LeaseGate.defaultLimit
        @Option(help: "scale-clients: the coordinator's URL.") var url = ""
        @Option(name: .customLong("dir"), help: "scale-serve: the job's files (kept between restarts).") var directory: String?
        @Option(help: "scale-serve: the port to listen on (loopback).") var port = 0
        @Option(name: .customLong("out"), help: "scale-clients: where to write the clients' statistics.") var outFile: String?
        @Option(help: "scale-clients: where simulated workers read a unit's feature-file rows: auto, local or coordinator (`adaneg worker --rows`; they run on the coordinator's machine).")
        var rows = RowsSource.auto.rawValue
        @Option(name: .customLong("tls-dir"), help: "Serve HTTPS with DIR/server.pem and DIR/server.key; clients trust DIR/ca.pem (bench/tls.sh makes them).")
        var tlsDirectory: String?

        func validate() throws {
            for (flag, value) in [("--samples", samples), ("--workers", workers), ("--dim", dimension), ("--classes", classes),
                                  ("--negatives", negatives), ("--entries", entriesPerBatch), ("--unit-batches", unitBatches),
                                  ("--batch-size", batchSize)] where value <= 0 {
                throw ValidationError("\(flag) \(value): not a positive integer")
            }
            guard batchMilliseconds.isFinite, batchMilliseconds >= 0 else { throw ValidationError("--batch-ms must be ≥ 0") }
            guard leaseSeconds.isFinite, leaseSeconds > 0 else { throw ValidationError("--lease must be > 0") }
            guard admission >= 0 else { throw ValidationError("--admission must be ≥ 0 (0: never defer a lease), got \(admission)") }
            _ = try policy()
            _ = try rowsSource()
        }

        /// The coordinator's bank policy from `--pull-kib`, `--max-behind` and `--window`, each
        /// checked against the one range `BankPolicy` defines for it (as `serve`'s `--bank-*` are).
        func policy() throws -> BankPolicy {
            let range = BankPolicy.pullBytesRange
            guard pullKiB > 0, pullKiB <= range.upperBound >> 10, range.contains(pullKiB << 10) else {
                throw ValidationError("--pull-kib must be in \(range.lowerBound >> 10)...\(range.upperBound >> 10) (got \(pullKiB))")
            }
            guard maxBehind == -1 || BankPolicy.maxBehindRange.contains(maxBehind) else {
                throw ValidationError("--max-behind must be -1 (no bound) or in \(BankPolicy.maxBehindRange.lowerBound)...\(BankPolicy.maxBehindRange.upperBound) (got \(maxBehind))")
            }
            let bound: BankPolicy.Window
            switch window {
            case -1: bound = .off
            case 0: bound = .automatic
            case BankPolicy.windowRange: bound = .positions(window)
            default:
                throw ValidationError("--window must be -1 (no bound), 0 (automatic) or in \(BankPolicy.windowRange.lowerBound)...\(BankPolicy.windowRange.upperBound) (got \(window))")
            }
            return BankPolicy(pullBytes: pullKiB << 10, maxBehind: maxBehind < 0 ? nil : maxBehind, window: bound)
        }

        func rowsSource() throws -> RowsSource {
            do { return try RowsSource.parse(rows) } catch { throw ValidationError(error.description) }
        }

        var clientArguments: [String] {
            ["--workers", "\(workers)", "--entries", "\(entriesPerBatch)", "--batch-ms", "\(batchMilliseconds)", "--dim", "\(dimension)", "--rows", rows]
                + (tlsDirectory.map { ["--tls-dir", $0] } ?? [])
        }

        /// The server's certificate and key when `--tls-dir` is given (issue 23's TLS figures).
        func tls() throws -> ReloadableTLS? {
            try tlsDirectory.map { try ReloadableTLS(certificatePath: "\($0)/server.pem", keyPath: "\($0)/server.key") }
        }
    }

    enum ScaleError: Error, CustomStringConvertible {
        case failed(String)
        var description: String {
            switch self {
            case let .failed(m): m
            }
        }
    }

    static func main(mode: String, arguments: [String]) async throws {
        let options: Options
        do {
            options = try Options.parse(arguments)
        } catch {
            Options.exit(withError: error)
        }
        if mode == "scale-clients" {
            try await clients(options)
        } else if mode == "scale-serve" {
            try await serve(options)
        } else {
            try await coordinator(options)
        }
    }

    // MARK: Coordinator side

    static func coordinator(_ o: Options) async throws {
        let quiet: Logger = {
            var logger = Logger(label: "scale")
            logger.logLevel = .critical
            return logger
        }()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-scale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = o.database ?? dir.appendingPathComponent("scale.sqlite").path
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        let planStart = Date()
        let (coordinator, submitted) = try await job(o, dir: dir, database: database, logger: quiet)
        let planSeconds = Date().timeIntervalSince(planStart)

        var serverOptions = ServerOptions(host: "127.0.0.1", port: 0, tls: try o.tls())
        serverOptions.leaseGate = LeaseGate(limit: o.admission)
        let server = try await InProcessServer.start(coordinator: coordinator, options: serverOptions, logger: quiet)
        let port = server.port
        try await measure(o, coordinator: coordinator, submitted: submitted, server: server, port: port, dir: dir, database: database, planSeconds: planSeconds)
    }

    /// The simulation's job in `dir` (its sparse files written when missing) and a coordinator
    /// on `database` holding it: submitted, or found there (a restart resumes it).
    static func job(_ o: Options, dir: URL, database: String, logger: Logger) async throws -> (Coordinator, SubmitResponse) {
        // Four tasks of S/4 samples: an ID set of S/5 shared by four OOD sets of S/20.
        let idCount = o.samples / 5, oodCount = o.samples / 20
        try sparseNPY(dir.appendingPathComponent("text.npy").path, descr: "<f4", shape: [o.classes + o.negatives, o.dimension])
        try sparseNPY(dir.appendingPathComponent("id.npy").path, descr: "<f4", shape: [idCount, o.dimension])
        try sparseNPY(dir.appendingPathComponent("id-labels.npy").path, descr: "<i8", shape: [idCount])
        var ood = ""
        for k in 0..<4 {
            try sparseNPY(dir.appendingPathComponent("ood\(k).npy").path, descr: "<f4", shape: [oodCount, o.dimension])
            ood += "  - {name: ood\(k), features: ood\(k).npy}\n"
        }
        let yaml = """
        name: scale
        id: {num_classes: \(o.classes), features: id.npy, labels: id-labels.npy}
        ood:
        \(ood)negatives: {count: \(o.negatives), text_features: text.npy}
        scoring: {batch_size: \(o.batchSize)}
        unit_batches: \(o.unitBatches)
        sync_every: 1
        """
        let spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir.path)
        let policy = try o.policy()
        let coordinator = try Coordinator(databasePath: database, configuration: .init(leaseSeconds: o.leaseSeconds, banks: policy), logger: logger)
        return (coordinator, try await coordinator.submit(spec))
    }

    /// `scale-serve`: the coordinator alone, on `--port`, its job's files in `--dir` and its
    /// database at `--db`, until it is killed: the chaos script kills it with `kill -9` while
    /// `scale-clients` run and starts it again on the same database and port.
    static func serve(_ o: Options) async throws {
        guard let dirPath = o.directory, let database = o.database, o.port > 0 else {
            throw ScaleError.failed("scale-serve needs --dir, --db and --port")
        }
        let dir = URL(fileURLWithPath: dirPath)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var logger = Logger(label: "scale-serve")
        logger.logLevel = .warning
        let (coordinator, submitted) = try await job(o, dir: dir, database: database, logger: logger)
        let renewed = try await coordinator.renewLeasesAfterRestart()
        let server = try await InProcessServer.start(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: o.port), logger: logger)
        // Written at once (not buffered): the chaos script waits for this line.
        FileHandle.standardOutput.write(Data("SCALE-SERVE listening on \(server.port): job \(submitted.name), \(submitted.units) units, \(submitted.created ? "submitted" : "resumed"), \(renewed) leases renewed\n".utf8))
        while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
    }

    /// Runs the clients against the served job and prints the figures.
    static func measure(_ o: Options, coordinator: Coordinator, submitted: SubmitResponse, server: InProcessServer, port: Int,
                        dir: URL, database: String, planSeconds: Double) async throws {

        let statsFile = dir.appendingPathComponent("clients.json").path
        let child = Process()
        child.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        child.arguments = ["scale-clients", "--url", "\(o.tlsDirectory == nil ? "http" : "https")://127.0.0.1:\(port)", "--out", statsFile] + o.clientArguments
        let cpu0 = processCPUSeconds()
        let t0 = Date()
        try child.run()
        // Coordinator CPU sampled once a second: the busiest second shows whether it keeps up.
        var peakCPU = 0.0
        var lastCPU = cpu0, lastT = t0
        while child.isRunning {
            try await Task.sleep(nanoseconds: 200_000_000)
            let now = Date()
            if now.timeIntervalSince(lastT) >= 1 {
                let c = processCPUSeconds()
                peakCPU = max(peakCPU, (c - lastCPU) / now.timeIntervalSince(lastT))
                (lastCPU, lastT) = (c, now)
            }
        }
        let wall = Date().timeIntervalSince(t0)
        let cpu = processCPUSeconds() - cpu0
        let childCPU = childrenCPUSeconds()
        guard child.terminationStatus == 0 else { throw ScaleError.failed("the clients exited with status \(child.terminationStatus)") }

        let status = try await coordinator.status(job: "scale")
        let integrity = try await coordinator.integrityCheck()
        // The same syncs timed by the coordinator (request in to reply out): what the fleet's
        // own clock adds is the simulated workers' share of the machine.
        var serverSyncs: ServerSyncTimes?
        if let url = URL(string: "\(o.tlsDirectory == nil ? "http" : "https")://127.0.0.1:\(port)") {
            let text = try? await CoordinatorClient(base: url, retryWindow: 0, caFile: o.tlsDirectory.map { "\($0)/ca.pem" }).metrics()
            serverSyncs = text.flatMap(ServerSyncTimes.init(metrics:))
        }
        await server.stop()
        guard let data = FileManager.default.contents(atPath: statsFile),
              let stats = try? JSONDecoder().decode(ClientStats.self, from: data) else {
            throw ScaleError.failed("no client statistics at \(statsFile)")
        }
        let ok = status.units.done == status.units.total && status.results == status.samples && integrity == "ok"

        func ms(_ v: [Double], _ p: Double) -> Double {
            guard !v.isEmpty else { return 0 }
            let sorted = v.sorted()
            return 1000 * sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
        }
        func row(_ name: String, _ v: [Double]) -> String {
            String(format: "| %@ | %d | %.1f | %.1f | %.1f | %.1f |", name, v.count, ms(v, 0.5), ms(v, 0.95), ms(v, 0.99), 1000 * (v.max() ?? 0))
        }
        print("Scale simulation: \(o.workers) simulated workers (no-op embedder, real HTTP protocol), one coordinator, \(submitted.samples) samples")
        print("(\(submitted.tasks) tasks, \(submitted.units) units of \(o.unitBatches) × \(o.batchSize), sync after every batch, D = \(o.dimension), \(o.entriesPerBatch) bank entries pushed per batch, \(o.batchMilliseconds) ms per batch, lease \(o.leaseSeconds) s)\n")
        print("| call | count | p50 ms | p95 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|---|")
        print(row("lease", stats.lease))
        print(row("lease: first request to grant (\(stats.deferred) requests deferred)", stats.leaseWait))
        print(row("unit rows (\(o.unitBatches * o.batchSize) × \(o.dimension) float32; \(stats.rowsLocal) units read here, \(stats.rowsFetched) fetched)", stats.rows))
        print(row("bank sync (push + pull)", stats.sync))
        print(row("heartbeat", stats.heartbeat))
        print(row("complete (\(o.unitBatches * o.batchSize) results)", stats.complete))
        print("")
        print(String(format: "planning: %.1f s; run: %.1f s wall, %.0f samples/s, %.0f leases/s, %.0f syncs/s", planSeconds, wall,
                     Double(status.results) / wall, Double(stats.lease.count) / wall, Double(stats.sync.count) / wall))
        print(String(format: "coordinator CPU: %.1f s = %.2f cores on average (peak second %.2f cores); clients %.1f s CPU; coordinator peak RSS %.0f MB",
                     cpu, cpu / wall, peakCPU, childCPU, Double(peakRSSBytes()) / 1e6))
        print(String(format: "bank syncs: %d requests; per sync on the wire: %.1f KiB pulled (mean %.0f entries in %.0f distinct rows), %.1f KiB pushed; %d steps waited for the frontier, %d gave up",
                     stats.pulledBytes.count, stats.mean(stats.pulledBytes) / 1024, stats.meanPulled, stats.mean(stats.pulledRows),
                     stats.mean(stats.pushedBytes) / 1024, stats.waits, stats.gaveUp))
        if let serverSyncs {
            print("bank syncs timed by the coordinator (request in to reply out): \(serverSyncs.over(0.5)) of \(serverSyncs.count) over 500 ms, "
                  + "\(serverSyncs.over(0.25)) over 250 ms; p99 at most \(serverSyncs.quantileBound(0.99).map { "\(Int($0 * 1000)) ms" } ?? "unknown") (histogram bucket)")
        }
        print("check: \(status.units.done)/\(status.units.total) units done, \(status.results)/\(status.samples) results, integrity \(integrity): \(ok ? "ok" : "FAILED")")
        let json: [String: Any] = [
            "samples": status.samples, "results": status.results, "units": status.units.total, "workers": o.workers,
            "dimension": o.dimension, "entries_per_batch": o.entriesPerBatch, "batch_ms": o.batchMilliseconds,
            "plan_seconds": planSeconds, "wall_seconds": wall, "samples_per_second": Double(status.results) / wall,
            "coordinator_cpu_seconds": cpu, "coordinator_cores_mean": cpu / wall, "coordinator_cores_peak_second": peakCPU,
            "client_cpu_seconds": childCPU, "coordinator_peak_rss_bytes": peakRSSBytes(),
            "lease_ms": ["p50": ms(stats.lease, 0.5), "p95": ms(stats.lease, 0.95), "p99": ms(stats.lease, 0.99), "max": 1000 * (stats.lease.max() ?? 0)],
            "rows_ms": ["p50": ms(stats.rows, 0.5), "p95": ms(stats.rows, 0.95), "p99": ms(stats.rows, 0.99), "max": 1000 * (stats.rows.max() ?? 0)],
            "sync_ms": ["p50": ms(stats.sync, 0.5), "p95": ms(stats.sync, 0.95), "p99": ms(stats.sync, 0.99)],
            "heartbeat_ms": ["p50": ms(stats.heartbeat, 0.5), "p95": ms(stats.heartbeat, 0.95), "p99": ms(stats.heartbeat, 0.99)],
            "complete_ms": ["p50": ms(stats.complete, 0.5), "p95": ms(stats.complete, 0.95), "p99": ms(stats.complete, 0.99)],
            "database": database, "integrity": integrity, "ok": ok,
            "pulled_bytes_per_sync": stats.mean(stats.pulledBytes), "pushed_bytes_per_sync": stats.mean(stats.pushedBytes),
            "pulled_entries_per_sync": stats.meanPulled, "pulled_rows_per_sync": stats.mean(stats.pulledRows),
            "sync_requests": stats.pulledBytes.count, "syncs_per_second": Double(stats.pulledBytes.count) / wall,
            "pull_budget_bytes": o.pullKiB << 10, "max_behind": o.maxBehind, "window": o.window,
            "lease_deferred": stats.deferred, "lease_admission_limit": o.admission,
            "lease_wait_ms": ["p50": ms(stats.leaseWait, 0.5), "p95": ms(stats.leaseWait, 0.95), "p99": ms(stats.leaseWait, 0.99), "max": 1000 * (stats.leaseWait.max() ?? 0)],
            "rows_local_units": stats.rowsLocal, "rows_fetched_units": stats.rowsFetched, "rows": o.rows,
            "frontier_waits": stats.waits, "frontier_gave_up": stats.gaveUp, "units_abandoned": stats.abandoned,
            "server_sync_over_500ms": serverSyncs?.over(0.5) ?? -1, "server_sync_count": serverSyncs?.count ?? -1,
        ]
        let line = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        print("SCALE-JSON " + String(decoding: line, as: UTF8.self))
        // Per second of the run (by when a call was sent): calls and their p99, in ms.
        func timeline(_ at: [Double], _ took: [Double]) -> [[Double]] {
            var buckets = [Int: [Double]]()
            for (a, t) in zip(at, took) { buckets[Int(a), default: []].append(t) }
            return buckets.sorted { $0.key < $1.key }.map { [Double($0.key), Double($0.value.count), ms($0.value, 0.99)] }
        }
        let waves: [String: Any] = ["lease": timeline(stats.leaseAt, stats.lease), "sync": timeline(stats.syncAt, stats.sync),
                                    "complete": timeline(stats.completeAt, stats.complete)]
        print("SCALE-TIMELINE " + String(decoding: try JSONSerialization.data(withJSONObject: waves, options: [.sortedKeys]), as: UTF8.self))
        if !ok { throw ScaleError.failed("the scale run did not complete cleanly") }
    }

    /// A `.npy` file of the given shape whose data are zeros and take no disk space (sparse).
    static func sparseNPY(_ path: String, descr: String, shape: [Int]) throws {
        // A restarted `scale-serve` finds its files as submitted (the same digests).
        if FileManager.default.fileExists(atPath: path) { return }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        let itemSize = descr.hasSuffix("8") ? 8 : 4
        let total = bytes.count + shape.reduce(1, *) * itemSize
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw ScaleError.failed("cannot write \(path)") }
        guard truncate(path, off_t(total)) == 0 else { throw ScaleError.failed("cannot size \(path)") }
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    static func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }

    // MARK: Client side

    struct ClientStats: Codable {
        var lease: [Double] = []
        /// Fetching a leased unit's rows (`GET /v1/units/{unit}/rows`).
        var rows: [Double] = []
        var sync: [Double] = []
        var heartbeat: [Double] = []
        var complete: [Double] = []
        /// Per sync request: entries pulled, their distinct rows, and wire bytes as sent.
        var pulled: [Int] = []
        var pulledRows: [Int] = []
        var pulledBytes: [Int] = []
        var pushedBytes: [Int] = []
        /// Steps that waited for the frontier, and that gave up waiting.
        var waits = 0
        var gaveUp = 0
        /// Units given up on a 409 (the lease went elsewhere).
        var abandoned = 0
        /// Lease requests the coordinator deferred (`retryAfter`), and per grant the seconds from
        /// the first deferred request (else the granted one) to the grant.
        var deferred = 0
        var leaseWait: [Double] = []
        /// When each lease, bank sync and completion was sent (seconds since the fleet
        /// started), beside `lease`, `sync` and `complete`: the timeline of waves.
        var leaseAt: [Double] = []
        var syncAt: [Double] = []
        var completeAt: [Double] = []
        /// Units whose rows were read from the job's files here, and fetched from the coordinator.
        var rowsLocal = 0
        var rowsFetched = 0
        var meanPulled: Double { mean(pulled) }
        func mean(_ v: [Int]) -> Double { v.isEmpty ? 0 : Double(v.reduce(0, +)) / Double(v.count) }

        mutating func merge(_ o: ClientStats) {
            lease += o.lease; rows += o.rows; sync += o.sync; heartbeat += o.heartbeat; complete += o.complete; pulled += o.pulled
            pulledRows += o.pulledRows; pulledBytes += o.pulledBytes; pushedBytes += o.pushedBytes; waits += o.waits; gaveUp += o.gaveUp; abandoned += o.abandoned
            deferred += o.deferred; leaseWait += o.leaseWait
            leaseAt += o.leaseAt; syncAt += o.syncAt; completeAt += o.completeAt
        }
    }

    static func clients(_ o: Options) async throws {
        guard let url = URL(string: o.url) else { throw ScaleError.failed("scale-clients needs --url <coordinator URL>") }
        // A real worker is a process with its own connections (lease or completion, bank sync,
        // heartbeat): the simulated fleet gets as many, not one worker's pool shared by all.
        let client = CoordinatorClient(base: url, connectionsPerHost: min(1024, 2 * o.workers), caFile: o.tlsDirectory.map { "\($0)/ca.pem" })
        let features = SharedFeatures(dimension: o.dimension)
        // The simulated workers run on the coordinator's machine, so under `auto` they read
        // their rows from the job's files, checked against the recorded digests once for the
        // fleet, as one `adaneg worker` process checks them once.
        let localRows = LocalUnitRows(source: try o.rowsSource()) { FileHandle.standardError.write(Data("scale-clients: \($0)\n".utf8)) }
        let origin = DispatchTime.now().uptimeNanoseconds
        var stats = try await withThrowingTaskGroup(of: ClientStats.self) { group in
            for i in 0..<o.workers {
                group.addTask {
                    try await simulatedWorker(id: "sim-\(i)", client: client, features: features, localRows: localRows, options: o, seed: UInt64(i + 1), origin: origin)
                }
            }
            var all = ClientStats()
            for try await s in group { all.merge(s) }
            return all
        }
        (stats.rowsLocal, stats.rowsFetched) = localRows.unitsRead
        let data = try JSONEncoder().encode(stats)
        guard let out = o.outFile else { throw ScaleError.failed("scale-clients needs --out <file>") }
        try data.write(to: URL(fileURLWithPath: out))
    }

    /// One simulated worker: the wire protocol of `adaneg worker`, no embedding, no scoring.
    static func simulatedWorker(id: String, client: CoordinatorClient, features: SharedFeatures, localRows: LocalUnitRows,
                                options o: Options, seed: UInt64, origin: UInt64) async throws -> ClientStats {
        let log = SyncLog(client: client, origin: origin)
        var rng = SplitMix64(seed: seed)
        var plans = [Int64: WorkPlan]()
        var versions = [Int64: Int64]()
        let pool = features.pool
        func timed<T>(_ into: inout [Double], _ body: () async throws -> T) async rethrows -> T {
            let t = DispatchTime.now().uptimeNanoseconds
            let v = try await body()
            into.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
            return v
        }
        var askedSince: UInt64?
        // As `adaneg worker` does: a unit's completion is sent while the next unit is leased and
        // scored; at most one in flight. Each answers when it was sent, how long it took, and
        // whether the lease had gone elsewhere (409).
        typealias Sent = (task: Int64, at: Double, took: Double, abandoned: Bool)
        return try await withThrowingTaskGroup(of: Sent.self) { sending in
        func record(_ sent: Sent?) {
            guard let sent else { return }
            log.stats.completeAt.append(sent.at)
            log.stats.complete.append(sent.took)
            if sent.abandoned {
                log.stats.abandoned += 1
                versions[sent.task] = nil
            }
        }
        while true {
            let asked = DispatchTime.now().uptimeNanoseconds
            log.stats.leaseAt.append(Double(asked &- log.origin) / 1e9)
            let response = try await timed(&log.stats.lease) { try await client.lease(worker: id, host: "sim") }
            guard let grant = response.grant else {
                // The unit in flight may be the job's last: once it is stored, ask again.
                if let sent = try await sending.next() {
                    record(sent)
                    continue
                }
                if response.finished { return log.stats }
                // As `adaneg worker` waits (`WorkerOptions.idlePoll`, or the coordinator's
                // `retryAfter` when it is busy): a thousand idle simulated workers polling
                // faster would be a load no real fleet makes.
                if response.retryAfter != nil {
                    log.stats.deferred += 1
                    if askedSince == nil { askedSince = asked }
                }
                try await Task.sleep(nanoseconds: UInt64(response.wait(idlePoll: 0.5) * 1e9))
                continue
            }
            // From the first lease request a busy coordinator deferred to the grant.
            log.stats.leaseWait.append(Double(DispatchTime.now().uptimeNanoseconds - (askedSince ?? asked)) / 1e9)
            askedSince = nil
            do {
                let plan: WorkPlan
                if let p = plans[grant.job] { plan = p } else { plan = try await client.plan(job: grant.job); plans[grant.job] = plan }
                // The unit's rows, as `adaneg worker` gets them (leases carry none): read from
                // the job's files here (`--rows auto|local`), else fetched from the coordinator.
                let rows = try await timed(&log.stats.rows) {
                    if let local = try await localRows.rows(sets: grant.sets, items: grant.items, plan: plan) { return local }
                    return try await client.rows(unit: grant.unit, worker: id, attempt: grant.attempt)
                }
                guard rows.count == grant.count else { throw ScaleError.failed("unit \(grant.unit): \(rows.count) rows for \(grant.count) samples") }
                if versions[grant.task] == nil {
                    // The replica's first pull, as `adaneg worker` makes it: until within the bound.
                    versions[grant.task] = try await BankCatchUp.step(log, task: grant.task, since: 0, position: 0, delta: BankDelta(), scoringAt: nil,
                                                                      dimension: plan.dimension, maxWait: grant.leaseSeconds / 2, merge: { _ in }).version
                }
                var lastBeat = Date()
                let b = plan.scoring.batchSize
                var start = 0, batch = 0
                while start < grant.count {
                    let end = min(grant.count, start + b)
                    batch += 1
                    if o.batchMilliseconds > 0 { try await Task.sleep(nanoseconds: UInt64(o.batchMilliseconds * 1e6)) }
                    if batch % plan.syncEvery == 0 || end >= grant.count {
                        let k = min(o.entriesPerBatch, end - start)
                        let stride = max(1, (end - start) / max(k, 1))
                        let entries = (0..<k).map { j in
                            BankEntry(row: Int(rng.next(upperBound: UInt64(plan.labelCount))),
                                      key: BankKey(primary: Float(rng.nextUnit()), position: grant.firstSample + start + j * stride),
                                      feature: pool[Int(rng.next(upperBound: UInt64(pool.count)))])
                        }
                        let outcome = try await BankCatchUp.step(log, task: grant.task, since: versions[grant.task] ?? 0, position: grant.firstSample + end,
                                                                 delta: BankDelta(entries: entries), scoringAt: grant.firstSample + start,
                                                                 dimension: plan.dimension, maxWait: grant.leaseSeconds / 2, merge: { _ in })
                        if outcome.waitedSeconds > 0 { log.stats.waits += 1 }
                        if outcome.gaveUp { log.stats.gaveUp += 1 }
                        versions[grant.task] = outcome.version
                    }
                    if Date().timeIntervalSince(lastBeat) > grant.leaseSeconds / 3 {
                        _ = try await timed(&log.stats.heartbeat) { try await client.heartbeat(unit: grant.unit, worker: id) }
                        lastBeat = Date()
                    }
                    start = end
                }
                let n = grant.count
                let results = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0.5, count: n),
                                          confVanilla: Array(repeating: 0.5, count: n), mcm: Array(repeating: 0.5, count: n),
                                          adaptive: Array(repeating: 0.5, count: n), errors: Array(repeating: nil, count: n))
                let request = CompletionRequest(worker: id, attempt: grant.attempt, results: results, computeSeconds: 0, waitSeconds: 0)
                record(try await sending.next())
                let origin = log.origin
                sending.addTask {
                    let t = DispatchTime.now().uptimeNanoseconds
                    var abandoned = false
                    do {
                        _ = try await client.complete(unit: grant.unit, request)
                    } catch let error as ClientError where error.status == 409 {
                        abandoned = true
                    }
                    return (grant.task, Double(t &- origin) / 1e9, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9, abandoned)
                }
            } catch let error as ClientError where error.status == 409 {
                // The lease went to another worker (expired while the coordinator was down, or
                // a restarted coordinator's bank refused a stale version): as `adaneg worker`
                // does, give the unit up; its results are the other worker's.
                log.stats.abandoned += 1
                versions[grant.task] = nil
            }
        }
        }
    }

    /// The features simulated workers push: 64 random unit vectors, made once for the fleet.
    final class SharedFeatures: Sendable {
        let pool: [[Float]]
        init(dimension: Int) {
            var rng = SplitMix64(seed: 0x5EED)
            pool = (0..<64).map { _ in
                var v = (0..<dimension).map { _ in Float(rng.nextGaussian()) }
                let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for k in v.indices { v[k] /= n }
                return v
            }
        }
    }

    /// One simulated worker's bank syncs through the client, each request timed and its wire
    /// bytes (as sent and received) and pulled rows recorded. Used by one worker's task only.
    final class SyncLog: BankSync, @unchecked Sendable {
        let client: CoordinatorClient
        /// When the fleet started (uptime ns): the timeline's zero.
        let origin: UInt64
        var stats = ClientStats()
        init(client: CoordinatorClient, origin: UInt64) {
            self.client = client
            self.origin = origin
        }

        func syncBank(task: Int64, _ request: BankSyncRequest, dimension: Int) async throws -> BankSyncReply {
            let t = DispatchTime.now().uptimeNanoseconds
            stats.syncAt.append(Double(t &- origin) / 1e9)
            // The reply checked but its features not widened: this process holds a thousand
            // workers that merge nothing (the bytes on the wire are the same).
            let (reply, rows) = try await client.syncBankRows(task: task, request, dimension: dimension)
            stats.sync.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
            stats.pulled.append(rows.count)
            stats.pulledRows.append(Set(rows).count)
            stats.pulledBytes.append(reply.pulledBytes)
            stats.pushedBytes.append(reply.pushedBytes)
            return reply
        }
    }
}

/// The coordinator's own histogram of bank-sync durations (`adaneg_bank_sync_duration_seconds`,
/// cumulative buckets), read from its `/metrics` exposition.
struct ServerSyncTimes {
    /// (upper bound in seconds, syncs at most that long), ascending.
    var buckets: [(bound: Double, count: Int)] = []
    var count = 0

    init?(metrics text: String) {
        let prefix = "adaneg_bank_sync_duration_seconds_bucket{le=\""
        for line in text.split(separator: "\n") {
            if line.hasPrefix(prefix) {
                let rest = line.dropFirst(prefix.count)
                guard let quote = rest.firstIndex(of: "\""), let space = rest.lastIndex(of: " "),
                      let count = Double(rest[rest.index(after: space)...]) else { continue }
                let bound = rest[..<quote] == "+Inf" ? Double.infinity : Double(rest[..<quote]) ?? .nan
                if bound.isNaN { continue }
                buckets.append((bound, Int(count)))
            } else if line.hasPrefix("adaneg_bank_sync_duration_seconds_count "), let n = Double(line.split(separator: " ").last ?? "") {
                count = Int(n)
            }
        }
        buckets.sort { $0.bound < $1.bound }
        guard count > 0, !buckets.isEmpty else { return nil }
    }

    /// Syncs that took longer than `seconds` (a bucket bound).
    func over(_ seconds: Double) -> Int {
        count - (buckets.last { $0.bound <= seconds }?.count ?? 0)
    }

    /// The smallest bucket bound at or under which the `q` quantile lies.
    func quantileBound(_ q: Double) -> Double? {
        buckets.first { Double($0.count) >= q * Double(count) }?.bound
    }
}
