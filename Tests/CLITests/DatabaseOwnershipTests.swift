import AdaNeg
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
@testable import JobStore
import NPY
import Testing

/// Issue 22 items 3, 4 and 7: one writer per database, never another program's database, and
/// exit statuses that tell a failed job from a refused one.
@Suite("Database ownership and job outcome", .serialized)
struct DatabaseOwnershipTests {
    let jobs = HostileInputCLITests()

    /// `adaneg` with a time limit: a command that should be refused at once must not hang the
    /// suite if it is not (it is killed and the test fails on its status).
    func runBounded(_ arguments: [String], seconds: Double = 60, executable: String? = nil) throws -> CLI.Result {
        let process = Process()
        process.executableURL = executable.map { URL(fileURLWithPath: $0) } ?? CLI.executable
        process.arguments = executable == nil ? arguments : Array(arguments.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: watchdog)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        return CLI.Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self))
    }

    @Test("a second writer (serve, run, rescore, in-process) fails at once naming the holder; readers work; kill -9 frees it")
    func oneWriter() async throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let db = s.path("db.sqlite")
        var server = try await ServerProcess(db: db)
        let pid = server.process.processIdentifier
        let submitted = try CLI.run(["submit", "--coordinator", server.url.absoluteString, job])
        #expect(submitted.status == 0, "\(submitted.stderr)")

        let holder = "is in use by another adaneg process (pid \(pid) on host "
        // Other names of the same database lock the same file.
        try FileManager.default.createSymbolicLink(atPath: s.path("alias.sqlite"), withDestinationPath: db)
        try FileManager.default.createDirectory(atPath: s.path("sub"), withIntermediateDirectories: true)
        let attempts: [[String]] = [
            ["serve", "--db", db, "--port", "0"],
            ["serve", "--db", s.path("alias.sqlite"), "--port", "0"],
            ["run", job, "--workers", "1", "--db", s.path("sub/../db.sqlite")],
            ["run", job, "--workers", "1", "--db", db],
            ["rescore", "--db", db, "hostile", "--memleng", "2", "--workers", "1"],
        ]
        for arguments in attempts {
            let r = try runBounded(arguments)
            #expect(r.status == 2, "\(arguments[0]): \(r.stderr)")
            #expect(r.stderr.contains(holder) && r.stderr.contains("serve --db \(db)"), "\(arguments[0]): \(r.stderr)")
        }
        // In this process too: the store's own error, with the holder's pid.
        #expect(throws: StoreError.self) { _ = try StoreWriter(path: db) }
        do {
            _ = try StoreWriter(path: db)
        } catch let error {
            guard case let .inUse(path, owner) = error else { Issue.record("expected inUse, got \(error)"); return }
            #expect(path == db && owner?.pid == pid && owner?.command.contains("serve") == true)
        }
        // Readers are never blocked.
        let status = try runBounded(["status", "--db", db, "hostile"])
        #expect(status.status == 0 && status.stdout.contains("job hostile"), "\(status.stderr)")
        let report = try runBounded(["report", "--db", db, "hostile", "--format", "json"])
        #expect(report.status == 0, "\(report.stderr)")
        // Nothing the refused writers did reached the database: one job, as submitted.
        #expect(try StoreReader(readingAt: db).jobs().map(\.name) == ["hostile"])

        // kill -9 leaves no stale lock: a restart takes the database at once.
        server.kill9()
        server = try await ServerProcess(db: db)
        defer { server.stop() }
        #expect(server.process.isRunning)
        server.stop()
        // And once it stopped, this process may write.
        _ = try StoreWriter(path: db)
    }

    @Test("kill -9 of run frees its database at once, although its worker processes may still be running")
    func killedRunFreesDatabase() async throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let db = s.path("db.sqlite")
        let run = Process()
        run.executableURL = CLI.executable
        run.arguments = ["run", job, "--workers", "2", "--db", db, "--simulate-batch-ms", "500"]
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle.nullDevice
        try run.run()
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) } }
        // Read-only polling (a writer here could take the lock before run does).
        try await Wait.until(60, "run to plan the job") {
            let status = try? StoreReader(readingAt: db).status(job: "hostile", now: 0, expiredLeases: 0)
            return (status?.units.done ?? 0) >= 1
        }
        #expect(throws: StoreError.self) { _ = try StoreWriter(path: db) }
        kill(run.processIdentifier, SIGKILL)
        run.waitUntilExit()
        // No wait: the lock went with the process (its workers never had the lock's descriptor).
        let writer = try StoreWriter(path: db)
        #expect(try writer.jobs().map(\.name) == ["hostile"])
    }

    @Test("demo refuses to replace a folder whose database another process writes, naming it; the folder is kept")
    func demoWhileServed() async throws {
        let s = try Scratch()
        let dir = s.path("demo")
        let sizes = ["--classes", "5", "--negatives", "20", "--dim", "8", "--id-samples", "40", "--ood-samples", "24", "--workers", "1"]
        let first = try runBounded(["demo", "--dir", dir] + sizes, seconds: 120)
        #expect(first.status == 0, "\(first.stderr)")
        let server = try await ServerProcess(db: "\(dir)/demo.sqlite")
        defer { server.stop() }
        let ids = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        let again = try runBounded(["demo", "--dir", dir, "--seed", "4"] + sizes)
        #expect(again.status == 2 && again.stderr.contains("is in use by another adaneg process (pid \(server.process.processIdentifier)"),
                "\(again.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ids)
        #expect(try StoreReader(readingAt: "\(dir)/demo.sqlite").jobs().map(\.name) == ["demo-task", "demo-sample"])
    }

    @Test("serve, run and rescore refuse another program's SQLite database and a non-SQLite file; both stay byte-identical")
    func foreignDatabase() throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        do {
            let other = try SQLiteConnection(path: s.path("other.sqlite"))
            try other.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT); INSERT INTO accounts (owner) VALUES ('alice')")
        }
        try "hello, not sqlite\n".write(toFile: s.path("notes.sqlite"), atomically: true, encoding: .utf8)
        for (file, message) in [("other.sqlite", "not an adaneg one"), ("notes.sqlite", "not an SQLite database")] {
            let db = s.path(file)
            let before = try Data(contentsOf: URL(fileURLWithPath: db))
            let listing = try FileManager.default.contentsOfDirectory(atPath: s.url.path).sorted()
            for arguments in [["serve", "--db", db, "--port", "0"], ["run", job, "--workers", "1", "--db", db],
                              ["rescore", "--db", db, "hostile", "--workers", "1"]] {
                let r = try runBounded(arguments)
                #expect(r.status == 2 && r.stderr.contains(message) && r.stderr.contains(db), "\(arguments[0]) \(file): \(r.stderr)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before, "\(file) was written to")
            // No -wal, -shm or lock file appeared next to it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: s.url.path).sorted() == listing)
        }
        #expect(throws: StoreError.foreign(path: s.path("other.sqlite"))) { _ = try StoreWriter(path: s.path("other.sqlite")) }
    }

    /// The hostile job as one unit: a crash on unit 1 fails every unit of the job.
    func oneUnitJob(_ s: Scratch) throws -> String {
        let job = try jobs.writeJob(s)
        let yaml = try String(contentsOfFile: job, encoding: .utf8)
            .replacingOccurrences(of: "scoring: {batch_size: 8, memleng: 3}", with: "scoring: {batch_size: 64, memleng: 3}")
            .replacingOccurrences(of: "unit_batches: 2", with: "unit_batches: 1")
        try yaml.write(toFile: job, atomically: true, encoding: .utf8)
        return job
    }

    @Test("run: every unit failed exits 1 (not 0, not 2), and run, status and report say the job failed")
    func allUnitsFailed() throws {
        let s = try Scratch()
        let job = try oneUnitJob(s)
        let db = s.path("db.sqlite")
        let r = try runBounded(["run", job, "--workers", "1", "--db", db, "--simulate-crash-unit", "1"], seconds: 120)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("error: workers keep dying on unit 1"), "\(r.stderr)")
        #expect(r.stdout.contains("job 'hostile' FAILED: every unit failed"), "\(r.stdout)")
        let status = try CLI.run(["status", "--db", db, "hostile"])
        #expect(status.status == 0 && status.stdout.contains("FAILED: every unit failed"), "\(status.stdout)")
        #expect(!status.stdout.contains("ETA"), "\(status.stdout)")
        let statusJSON = try CLI.run(["status", "--db", db, "hostile", "--json"])
        #expect(statusJSON.status == 0 && statusJSON.stdout.contains("\"state\" : \"failed\""), "\(statusJSON.stdout)")
        let table = try CLI.run(["report", "--db", db, "hostile"])
        #expect(table.status == 0 && table.stdout.contains("FAILED: every unit failed (1 unit)"), "\(table.stdout)\(table.stderr)")
        let json = try CLI.run(["report", "--db", db, "hostile", "--format", "json", "--out", s.path("report.json")])
        #expect(json.status == 0 && json.stderr.contains("job hostile failed (every unit failed, 1 unit)"), "\(json.stderr)")
        #expect(!json.stderr.contains("not finished"), "\(json.stderr)")
    }

    @Test("run: a unit failed for its input exits 1 and names the unit and the reason; the rest is scored")
    func failedUnitExitStatus() async throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let db = s.path("db.sqlite")
        do {
            // An earlier coordinator parked unit 1 as failed with a worker's reason.
            let coordinator = try Coordinator(databasePath: db, configuration: .init(maxAttempts: 1))
            _ = try await coordinator.submit(try JobSpecLoader.load(path: job))
            let grant = try #require(try await coordinator.lease(worker: "w", host: "h").grant)
            #expect(try await coordinator.fail(unit: grant.unit, worker: "w", error: "row 3 of ood.npy is corrupt") == .failed)
        }
        let r = try runBounded(["run", job, "--workers", "1", "--db", db], seconds: 120)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("error: job 'hostile' finished with failures: 1 of ") && r.stderr.contains("row 3 of ood.npy is corrupt"),
                "\(r.stderr)")
        #expect(r.stdout.contains("job 'hostile' finished with failures") && r.stdout.contains("row 3 of ood.npy is corrupt"), "\(r.stdout)")
        // The summary names the unit, its task and its set.
        #expect(r.stdout.contains("(task 1, set covered) failed after 1 attempt: row 3 of ood.npy is corrupt"), "\(r.stdout)")
        let status = try CLI.run(["status", "--db", db, "hostile"])
        #expect(status.stdout.contains("finished with failures: 1 of "), "\(status.stdout)")
    }

    @Test("run stops when the database cannot grow (a file-size limit stands in for a full disk), naming it; nothing stored is lost")
    func storageFailureStopsRun() throws {
        let s = try Scratch()
        // 12,000 samples: planned in about 270 kB of database, about 900 kB once scored.
        let data = SyntheticBenchmark(shape: .init(classes: 10, negatives: 50, dimension: 16, idSamples: 3000, oodSamples: 3000), seed: 3)
        try DemoFiles.write(data, to: s)
        try """
        name: full
        id: {num_classes: 10, features: id.npy, labels: id-labels.npy}
        ood:
          - {name: covered, features: ood-covered.npy}
          - {name: near-id, features: ood-near-id.npy}
        negatives: {count: 50, text_features: text.npy}
        scoring: {batch_size: 50, memleng: 4}
        unit_batches: 2
        """.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        let db = s.path("db.sqlite")
        // Writes past 400 kB fail (EFBIG, SIGXFSZ ignored) as they would on a full disk.
        let limited = try runBounded(["/bin/bash", "-c", "trap '' XFSZ; ulimit -f 400; exec \"$0\" \"$@\"", CLI.executable.path,
                                      "run", s.path("job.yaml"), "--workers", "1", "--db", db], seconds: 120, executable: "/bin/bash")
        #expect(limited.status == 2, "\(limited.stderr)")
        #expect(limited.stderr.contains("error: database \(db): ") && limited.stderr.contains("the run stopped")
                && limited.stderr.contains("run the same command again to resume"), "\(limited.stderr)")
        #expect(!limited.stderr.contains("retry 5 "), "the run kept retrying: \(limited.stderr)")
        // Nothing stored is lost: the same command without the limit finishes the job.
        let resumed = try runBounded(["run", s.path("job.yaml"), "--workers", "1", "--db", db], seconds: 120)
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming job 'full'"), "\(resumed.stderr)")
        let status = try StoreReader(readingAt: db).status(job: "full", now: 0, expiredLeases: 0)
        #expect(status.units.done == status.units.total && status.results == status.samples && status.samples == 12_000)
        #expect(try StoreReader(readingAt: db).integrityCheck() == "ok")
    }

    @Test("run: an input file changed since submission fails its units; run exits 1 naming the file")
    func changedInputExitStatus() async throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let db = s.path("db.sqlite")
        do {
            let coordinator = try Coordinator(databasePath: db)
            _ = try await coordinator.submit(try JobSpecLoader.load(path: job))
        }
        // The OOD features replaced by other rows of the same shape after submission.
        let ood = try NPYFile.read(s.path("ood.npy"))
        try NPYFile.write(.float32(ood.floats().map { -$0 }, shape: ood.shape), to: s.path("ood.npy"))
        let r = try runBounded(["run", job, "--workers", "1", "--db", db], seconds: 120)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("error: job 'hostile'") && r.stderr.contains("ood.npy"), "\(r.stderr)")
        #expect(r.stdout.contains("set covered"), "\(r.stdout)")
    }

    @Test("rescore --name: the original's name is refused (exit 2), another job's with a different spec too; the same spec resumes")
    func rescoreNameClash() throws {
        let s = try Scratch()
        let job = try jobs.writeJob(s)
        let db = s.path("db.sqlite")
        let run = try runBounded(["run", job, "--workers", "1", "--db", db], seconds: 120)
        #expect(run.status == 0, "\(run.stderr)")
        let same = try runBounded(["rescore", "--db", db, "hostile", "--name", "hostile", "--memleng", "2", "--workers", "1"])
        #expect(same.status == 2 && same.stderr.contains("--name 'hostile' is the job being re-scored"), "\(same.stderr)")
        #expect(try StoreReader(readingAt: db).jobs().map(\.name) == ["hostile"])

        let first = try runBounded(["rescore", "--db", db, "hostile", "--name", "short", "--memleng", "2", "--workers", "1"], seconds: 120)
        #expect(first.status == 0 && first.stdout.contains("re-scored 'hostile' as 'short'"), "\(first.stderr)")
        let clash = try runBounded(["rescore", "--db", db, "hostile", "--name", "short", "--memleng", "5", "--workers", "1"])
        #expect(clash.status == 2 && clash.stderr.contains("--name 'short'") && clash.stderr.contains("another spec"), "\(clash.stderr)")
        let again = try runBounded(["rescore", "--db", db, "hostile", "--name", "short", "--memleng", "2", "--workers", "1"], seconds: 120)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try StoreReader(readingAt: db).jobs().map(\.name) == ["hostile", "short"])
    }
}
