import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
@testable import JobStore
import NPY
import Testing

/// Issue 13's table, as a user or a hostile client meets it on the command line: every row
/// ends in one clear message and a non-crash exit status, never a signal.
@Suite("Hostile input, command line", .serialized)
struct HostileInputCLITests {
    /// A loopback port nothing listens on (bound once, then closed).
    static func deadPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A small features job: 2 tasks' worth of units of 16 samples.
    func writeJob(_ s: Scratch, name: String = "hostile", extra: String = "") throws -> String {
        let data = SyntheticBenchmark(shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24), seed: 9)
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: 8, to: s.path("id.npy"))
        try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: s.path("id-labels.npy"))
        try NPYFile.writeMatrix(data.oodSets[0].features.storage, rows: data.oodSets[0].features.rows, cols: 8, to: s.path("ood.npy"))
        let yaml = """
        name: \(name)
        id: {num_classes: 5, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood.npy}
        negatives: {count: 20, text_features: text.npy}
        scoring: {batch_size: 8, memleng: 3}
        unit_batches: 2
        \(extra)
        """
        try yaml.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        return s.path("job.yaml")
    }

    func absurdNPY(_ path: String) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)])
        d.append(Data(header.utf8))
        d.append(Data(count: 64))
        try d.write(to: URL(fileURLWithPath: path))
    }

    @Test("serve --port 99999 is refused (exit 2), not truncated to another port")
    func portOutOfRange() throws {
        let s = try Scratch()
        let r = try CLI.run(["serve", "--db", s.path("db.sqlite"), "--port", "99999"])
        #expect(r.status == 2 && r.stderr == "error: --port must be in 0...65535 (got 99999)\n", "\(r.stderr)")
        #expect(!s.exists("db.sqlite"))
    }

    @Test("serve on a port in use says so in one line")
    func portInUse() async throws {
        let s = try Scratch()
        let server = try await ServerProcess(db: s.path("a.sqlite"))
        defer { server.stop() }
        let r = try CLI.run(["serve", "--db", s.path("b.sqlite"), "--port", "\(server.port)"])
        #expect(r.status == 2)
        #expect(r.stderr.hasSuffix("error: cannot listen on 127.0.0.1:\(server.port): the address is already in use (another coordinator? pick another --port, or 0 for a free one)\n"), "\(r.stderr)")
        #expect(!r.stderr.contains("bind(descriptor"))
    }

    @Test("score-features on an .npy whose header declares an absurd shape: exit 2")
    func absurdHeader() throws {
        let s = try Scratch()
        try absurdNPY(s.path("bad.npy"))
        let data = SyntheticBenchmark(shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 4, oodSamples: 4), seed: 1)
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        let r = try CLI.run(["score-features", "--image-features", s.path("bad.npy"), "--text-features", s.path("text.npy"),
                             "--num-id", "5", "--out", s.path("s.csv")])
        #expect(r.status == 2 && r.stderr.contains("malformed .npy header") && r.stderr.contains("larger than any file can hold"), "\(r.stderr)")
        #expect(!s.exists("s.csv"))
    }

    @Test("run on a spec with Int.max sizes or a huge memleng: exit 2 with the keys, no database written")
    func overflowingSpec() throws {
        let s = try Scratch()
        for extra in ["sync_every: 9223372036854775807", "scoring: {batch_size: 9223372036854775807}", "scoring: {memleng: 1000000}"] {
            let yaml = try String(contentsOfFile: writeJob(s), encoding: .utf8).replacingOccurrences(of: "scoring: {batch_size: 8, memleng: 3}\n", with: "")
            try (yaml + "\n" + extra + "\n").write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
            let r = try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", s.path("db.sqlite")])
            #expect(r.status == 2, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains("must be at most"), "\(extra): \(r.stderr)")
            #expect(!s.exists("db.sqlite"))
        }
    }

    @Test("submit, status and report against a coordinator that is down: one line with the URL and 'connection refused'")
    func unreachable() throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let url = "http://127.0.0.1:\(try Self.deadPort())"
        for arguments in [["submit", "--coordinator", url, job], ["status", "--coordinator", url, "hostile"],
                          ["report", "--coordinator", url, "hostile"]] {
            let r = try CLI.run(arguments)
            #expect(r.status == 2, "\(arguments[0]): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(arguments[0]): \(r.stderr)")
            #expect(r.stderr.contains(url) && r.stderr.contains("connection refused"), "\(arguments[0]): \(r.stderr)")
        }
    }

    @Test("status against a coordinator that accepts connections but never answers: 'timed out', exit 2")
    func silentCoordinator() throws {
        // A listening socket nobody accepts from: the kernel completes the handshake, no reply ever comes.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        #expect(listening)
        let url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let r = try CLI.run(["status", "--coordinator", url, "job"])
        #expect(r.status == 2)
        #expect(r.stderr == "error: cannot reach the coordinator at \(url): timed out (no answer within 5 s)\n", "\(r.stderr)")
    }

    @Test("a worker whose coordinator is down logs each retry and stops at once on SIGTERM")
    func workerOutage() async throws {
        let url = "http://127.0.0.1:\(try Self.deadPort())"
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["worker", "--coordinator", url, "--patience", "0", "--threads", "1"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let log = LogCollector(err.fileHandleForReading)
        try await Wait.until(30, "two retries in the worker's log") { log.text.contains("retry 2 in") }
        process.terminate()
        try await Wait.until(10, "the worker to stop on SIGTERM") { !process.isRunning }
        let text = log.text
        #expect(text.contains("coordinator \(url): connection refused; retry 1 in"), "\(text)")
        #expect(text.contains("retrying until the coordinator is back"))
        #expect(process.terminationReason == .exit, "the worker died of signal \(process.terminationStatus)")
    }

    @Test("worker --artefact-cache that is empty, a file, or cannot be created: exit 2 naming the flag, before any request")
    func badArtefactCache() throws {
        let s = try Scratch()
        try "not a folder".write(toFile: s.path("file"), atomically: true, encoding: .utf8)
        for folder in ["", s.path("file"), s.path("file") + "/below"] {
            let r = try CLI.run(["worker", "--coordinator", "http://127.0.0.1:9", "--patience", "0", "--artefact-cache", folder])
            #expect(r.status == 2, "\(folder): \(r.stderr)")
            #expect(r.stderr.contains("--artefact-cache"), "\(r.stderr)")
            #expect(!r.stderr.contains("127.0.0.1:9"), "it must not have tried the coordinator: \(r.stderr)")
        }
        let fine = try CLI.run(["worker", "--coordinator", "http://127.0.0.1:9", "--patience", "0.1", "--artefact-cache", s.path("new/cache")])
        #expect(fine.stderr.contains("127.0.0.1:9") && !fine.stderr.contains("--artefact-cache"), "\(fine.stderr)")
        #expect(FileManager.default.fileExists(atPath: s.path("new/cache")))
    }

    @Test("a worker gives up after --patience with one line naming the coordinator")
    func workerPatience() async throws {
        let url = "http://127.0.0.1:\(try Self.deadPort())"
        let r = try CLI.run(["worker", "--coordinator", url, "--patience", "1", "--threads", "1"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("error: worker ") && r.stderr.contains("coordinator at \(url) unreachable: connection refused"), "\(r.stderr)")
        #expect(r.stderr.contains("giving up in"))
    }

    @Test("run: a unit that kills every worker is parked after 3 attempts; run names it and the rest finishes")
    func crashLoop() throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let r = try CLI.run(["run", job, "--workers", "1", "--db", s.path("db.sqlite"), "--simulate-crash-unit", "2"])
        // 1: the job finished with a failed unit (2 is for refused input).
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("error: workers keep dying on unit 2: worker process"), "\(r.stderr)")
        #expect(r.stderr.contains("died of signal 6"), "\(r.stderr)")
        #expect(r.stdout.contains("1 unit failed; their samples are missing from the metrics"), "\(r.stdout)")
        #expect(r.stdout.contains("workers keep dying on unit 2 (task 1, set covered)") && r.stdout.contains("parked as failed after 3 attempts"), "\(r.stdout)")
        let status = try CLI.run(["status", "--db", s.path("db.sqlite"), "hostile"])
        #expect(status.status == 0 && status.stdout.contains("died of signal 6"), "\(status.stdout)")
        // Running it again resumes a finished job: it says the same, without new deaths.
        let again = try CLI.run(["run", job, "--workers", "1", "--db", s.path("db.sqlite")])
        #expect(again.status == 1 && again.stderr.contains("error: workers keep dying on unit 2: worker process"), "\(again.stderr)")
    }

    @Test("report --db and status --db read without writing: the database stays byte-identical")
    func readersDoNotWrite() throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let run = try CLI.run(["run", job, "--workers", "1", "--db", s.path("db/run.sqlite")])
        #expect(run.status == 0, "\(run.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: s.path("db/run.sqlite")))
        let listing = try FileManager.default.contentsOfDirectory(atPath: s.path("db")).sorted()
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: s.path("db"))
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: s.path("db")) }
        let report = try CLI.run(["report", "--db", s.path("db/run.sqlite"), "hostile", "--format", "json"])
        #expect(report.status == 0 && report.stdout.contains("\"covered\""), "\(report.stderr)")
        let status = try CLI.run(["status", "--db", s.path("db/run.sqlite"), "hostile"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("db/run.sqlite"))) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path("db")).sorted() == listing)
    }

    @Test("status --db on a database a coordinator has open: it reads, and the coordinator keeps writing")
    func readerOnLiveDatabase() async throws {
        let s = try Scratch()
        let job = try writeJob(s)
        let coordinator = try Coordinator(databasePath: s.path("live.sqlite"))
        let spec = try JobSpecLoader.load(path: job)
        _ = try await coordinator.submit(spec)
        let grant = try #require(try await coordinator.lease(worker: "w", host: "h").grant)
        let r = try CLI.run(["status", "--db", s.path("live.sqlite"), "hostile"])
        #expect(r.status == 0 && r.stdout.contains("1 leased"), "\(r.stdout)\(r.stderr)")
        // No lock was left behind: the writer goes on.
        #expect(try await coordinator.heartbeat(unit: grant.unit, worker: "w"))
        #expect(try await coordinator.release(unit: grant.unit, worker: "w"))
    }

    @Test("report --db and status --db on what is not a database: a message that says what it is")
    func notADatabase() throws {
        let s = try Scratch()
        FileManager.default.createFile(atPath: s.path("empty.sqlite"), contents: Data())
        try "hello, not sqlite\n".write(toFile: s.path("text.sqlite"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: s.path("folder.sqlite"), withIntermediateDirectories: true)
        do {
            let db = try SQLiteConnection(path: s.path("other.sqlite"))
            try db.execute("CREATE TABLE t (x INTEGER)")
        }
        do {
            let db = try SQLiteConnection(path: s.path("newer.sqlite"))
            try Schema.prepare(db)
            try db.execute("UPDATE schema_version SET version = 99")
        }
        let cases = [("empty.sqlite", "is an empty file, not an adaneg database"), ("text.sqlite", "not an SQLite database"),
                     ("folder.sqlite", "is a directory, not a database file"), ("other.sqlite", "not an adaneg one"),
                     ("newer.sqlite", "has schema version 99; this adaneg supports up to")]
        for (file, message) in cases {
            for command in ["report", "status"] {
                let r = try CLI.run([command, "--db", s.path(file), "job"])
                #expect(r.status == 2 && r.stderr.contains(message), "\(command) \(file): \(r.stderr)")
            }
        }
        let size = try FileManager.default.attributesOfItem(atPath: s.path("empty.sqlite"))[.size] as? Int
        #expect(size == 0, "the empty file was written to")
    }

    @Test("score-features: all-zero rows are per-sample errors (pred -1, empty scores: no NaN written), not scored")
    func zeroRows() throws {
        let s = try Scratch()
        let data = SyntheticBenchmark(shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 20, oodSamples: 12), seed: 2)
        var (features, labels) = data.stream(for: .covered, seed: 1)
        for c in 0..<8 { features[3, c] = 0; features[10, c] = 0 }
        try NPYFile.writeMatrix(features.storage, rows: features.rows, cols: 8, to: s.path("image.npy"))
        try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: 8, to: s.path("text.npy"))
        try NPYFile.write(.int64(labels, shape: [labels.count]), to: s.path("labels.npy"))
        let r = try CLI.run(["score-features", "--image-features", s.path("image.npy"), "--text-features", s.path("text.npy"),
                             "--num-id", "5", "--out", s.path("s.csv"), "--labels", s.path("labels.npy"), "--batch-size", "8"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("2 of \(features.rows) rows are all zeros"))
        let lines = try String(contentsOfFile: s.path("s.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines[4] == "3,-1,,," && lines[11] == "10,-1,,,")
        #expect(lines.filter { $0.hasSuffix(",-1,,,") }.count == 2)
        #expect(!lines.contains { $0.lowercased().contains("nan") })

    }
}

/// Collects a pipe's output as it arrives.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    init(_ handle: FileHandle) {
        handle.readabilityHandler = { [weak self] h in
            let chunk = h.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.lock(); self.data.append(chunk); self.lock.unlock()
        }
    }

    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
