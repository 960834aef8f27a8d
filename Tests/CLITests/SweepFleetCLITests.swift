import Coordinator
import Foundation
import JobClient
import JobProtocol
@testable import JobStore
import Logging
import Testing
import Worker

/// `adaneg sweep --coordinator URL`: the grid's units scored by a fleet's workers, the points
/// printed as `sweep --db` prints them.
@Suite("Sweep on a fleet (CLI)")
struct SweepFleetCLITests {
    /// A coordinator serving `db` on a free loopback port, with `workers` in-process workers
    /// that run until `body` returns.
    static func withFleet<T: Sendable>(db: String, workers: Int, _ body: @escaping @Sendable (String) throws -> T) async throws -> T {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let coordinator = try Coordinator(databasePath: db, logger: logger)
        return try await InProcessServer.serving(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0), logger: logger) { server in
            let url = "http://127.0.0.1:\(server.port)"
            return try await withThrowingTaskGroup(of: T?.self) { group in
                for i in 0..<workers {
                    group.addTask {
                        let client = CoordinatorClient(base: URL(string: url)!, retryWindow: 5)
                        let w = Worker(client: client, options: WorkerOptions(id: "fleet\(i)", host: "test", forever: true, idlePoll: 0.05))
                        try await w.run()
                        return nil
                    }
                }
                // The CLI blocks its thread while it waits for the subprocess: not a pool thread.
                let result: T = try await withCheckedThrowingContinuation { c in
                    DispatchQueue.global().async { c.resume(with: Result { try body(url) }) }
                }
                group.cancelAll()
                return result
            }
        }
    }

    /// A copy of a closed database (with its side files), so one run's stored points do not
    /// answer the other's.
    static func copy(_ db: String, to path: String) throws {
        for side in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: db + side) {
            try FileManager.default.copyItem(atPath: db + side, toPath: path + side)
        }
    }

    @Test("two workers score the grid; its JSON equals sweep --db's byte for byte; run again, it resumes without new units")
    func equalsLocal() async throws {
        let s = try Scratch()
        let db = try SweepCLITests.job(s)
        let fleetDB = s.path("fleet.sqlite")
        try Self.copy(db, to: fleetDB)
        // 16 points: two units of 8 per task, so a worker scores a task's second unit from the
        // features it kept from the first.
        let grid = ["swept", "--set", "memleng=2,6", "--set", "proxy=task,sample", "--set", "lambda=0.5,1", "--set", "gap=0.3,0.5", "--format", "json"]
        let local = try CLI.run(["sweep", "--db", db] + grid + ["--out", s.path("local.json")])
        #expect(local.status == 0, "\(local.stderr)")

        let fleetOut = s.path("fleet.json"), againOut = s.path("again.json")
        let fleet = try await Self.withFleet(db: fleetDB, workers: 2) { url in
            try CLI.run(["sweep", "--coordinator", url] + grid + ["--out", fleetOut])
        }
        #expect(fleet.status == 0, "\(fleet.stderr)")
        #expect(fleet.stderr.contains("submitted sweep"), "\(fleet.stderr)")
        let localJSON = try Data(contentsOf: URL(fileURLWithPath: s.path("local.json")))
        let fleetJSON = try Data(contentsOf: URL(fileURLWithPath: s.path("fleet.json")))
        #expect(!localJSON.isEmpty && localJSON == fleetJSON, "fleet:\n\(String(decoding: fleetJSON, as: UTF8.self).prefix(2000))")

        // The fleet's sets are in sweep_sets, one per point and task, every unit done once.
        let reader = try StoreReader(readingAt: fleetDB)
        let job = try #require(try reader.job(named: "swept"))
        let sets = try reader.sweepSets(job: job.id)
        #expect(sets.count == 16 && sets.values.allSatisfy { $0.count == 2 }, "\(sets.mapValues(\.count))")
        #expect(try reader.db.scalar("SELECT count(*) FROM sweep_units") == 4)
        let units = try #require(try reader.db.scalar("SELECT count(*) FROM sweep_units WHERE state = 'done'"))
        #expect(try reader.db.scalar("SELECT count(*) FROM sweep_units") == units)
        #expect(try reader.db.scalar("SELECT max(attempts) FROM sweep_units") == 1)
        // The job's own results are untouched by the sweep (no new job, no new results).
        #expect(try reader.jobs().count == 1)

        // Run again (as after Ctrl-C): the same grid is the same sweep; nothing is scored again.
        let again = try await Self.withFleet(db: fleetDB, workers: 0) { url in
            try CLI.run(["sweep", "--coordinator", url] + grid + ["--out", againOut])
        }
        #expect(again.status == 0 && again.stderr.contains("resuming sweep"), "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("again.json"))) == localJSON)
        let reread = try StoreReader(readingAt: fleetDB)
        #expect(try reread.db.scalar("SELECT count(*) FROM sweep_units") == units)
        #expect(try reread.db.scalar("SELECT count(*) FROM sweeps") == 1)
    }

    @Test("refusals exit 2 naming the cause and store nothing: bad --set, a grid over --max-points, an unknown job, groups over the job's negatives, --db or --workers with --coordinator")
    func refusals() async throws {
        let s = try Scratch()
        let db = try SweepCLITests.job(s)
        let results = try await Self.withFleet(db: db, workers: 0) { url -> [CLI.Result] in
            [try CLI.run(["sweep", "--coordinator", url, "swept", "--set", "memleng=0,2"]),
             try CLI.run(["sweep", "--coordinator", url, "swept", "--set", "gap=0.1:0.9:0.1", "--set", "memleng=1:20:1", "--max-points", "50"]),
             try CLI.run(["sweep", "--coordinator", url, "nothing", "--set", "memleng=2,3"]),
             try CLI.run(["sweep", "--coordinator", url, "swept", "--set", "groups=1,60"]),
             try CLI.run(["sweep", "--coordinator", url, "--db", db, "swept", "--set", "memleng=2,3"]),
             try CLI.run(["sweep", "--coordinator", url, "--workers", "2", "swept", "--set", "memleng=2,3"])]
        }
        let (badSet, tooMany, unknown, groups, both) = (results[0], results[1], results[2], results[3], results[4])
        #expect(results[5].status == 2 && results[5].stderr.contains("--workers is for sweep --db"), "\(results[5].stderr)")
        #expect(badSet.status == 2 && badSet.stderr.contains("--set 'memleng=0,2'"), "\(badSet.stderr)")
        #expect(tooMany.status == 2 && tooMany.stderr.contains("--max-points 50"), "\(tooMany.stderr)")
        #expect(unknown.status == 2 && unknown.stderr.contains("404") && unknown.stderr.contains("nothing"), "\(unknown.stderr)")
        #expect(groups.status == 2 && groups.stderr.contains("400") && groups.stderr.contains("groups 60 is more than the job's 50 negative labels"), "\(groups.stderr)")
        #expect(both.status == 2 && both.stderr.contains("not both"), "\(both.stderr)")
        let reader = try StoreReader(readingAt: db)
        #expect(try reader.db.scalar("SELECT count(*) FROM sweeps") == 0)
        #expect(try reader.db.scalar("SELECT count(*) FROM sweep_units") == 0)
    }

    @Test("a coordinator that cannot be reached is reported at once (exit 2, naming the URL), as submit does; nothing is written")
    func unreachable() throws {
        let s = try Scratch()
        let run = try CLI.run(["sweep", "--coordinator", "http://127.0.0.1:1", "swept", "--set", "memleng=2,3", "--out", s.path("points.json")])
        #expect(run.status == 2 && run.stderr.contains("coordinator at http://127.0.0.1:1 unreachable"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("points.json")))
    }

    @Test("units that fail on the fleet (a feature file changed since submission) end the command with status 1, naming the unit and the file")
    func failedUnits() async throws {
        let s = try Scratch()
        let db = try SweepCLITests.job(s)
        // One float of the file changed: same size, another digest.
        let path = s.path("ood-covered.npy")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 1] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        let r = try await Self.withFleet(db: db, workers: 1) { url in
            try CLI.run(["sweep", "--coordinator", url, "swept", "--set", "memleng=2,6"])
        }
        #expect(r.status == 1 && r.stderr.contains("1 unit failed") && r.stderr.contains("ood-covered.npy"), "\(r.stderr)")
        #expect(r.stdout.isEmpty, "no points are printed for an incomplete grid")
    }

    @Test("a job whose image features were dropped (keep_features: false) is refused by the coordinator with the reason")
    func droppedFeatures() async throws {
        let s = try Scratch()
        try ImageRunTests.writeDroppedFeaturesJob(in: s)
        let db = s.path("db.sqlite")
        #expect(try CLI.run(["run", s.path("job.yaml"), "--workers", "1", "--db", db]).status == 0)
        let r = try await Self.withFleet(db: db, workers: 0) { url in
            try CLI.run(["sweep", "--coordinator", url, "pictures", "--set", "memleng=2,3"])
        }
        #expect(r.status == 2 && r.stderr.contains("409"), "\(r.stderr)")
        #expect(r.stderr.contains("job 'pictures' ran with keep_features: false") && r.stderr.contains("no stored features"), "\(r.stderr)")
    }
}
