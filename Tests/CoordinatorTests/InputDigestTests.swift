import AdaNeg
@testable import Coordinator
import Foundation
@testable import JobClient
@testable import JobPlan
import JobProtocol
import JobSpec
import Logging
@testable import JobStore
import NPY
import Tensor
import Testing
@testable import Worker

/// Every input file a job reads is recorded by digest at submission, and every reader after it
/// — leases, bank rebuilds, the sequential re-score, rescore — refuses a file that changed
/// since, naming it, instead of scoring other data under the set's name.
@Suite("Inputs changed since submission")
struct InputDigestTests {
    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()
    static let shape = SyntheticBenchmark.Shape(classes: 8, negatives: 40, dimension: 16, idSamples: 120, oodSamples: 96)

    static func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `source`'s bytes over `target` in place (same inode, same size when the shapes
    /// agree), and sets the modification time back, as a careless copy tool might.
    static func overwrite(_ target: String, with source: String) throws {
        let before = try FileManager.default.attributesOfItem(atPath: target)[.modificationDate] as? Date
        let handle = try #require(FileHandle(forWritingAtPath: target))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: source)))
        try handle.close()
        if let before { try FileManager.default.setAttributes([.modificationDate: before], ofItemAtPath: target) }
    }

    /// A features job whose ID classes are named by a class-names file.
    static func jobWithClassNames(in dir: URL) throws -> (FeaturesJob, JobSpec) {
        let job = try FeaturesJob(in: dir, shape: shape)
        try (0..<shape.classes).map { "class \($0)" }.joined(separator: "\n").write(toFile: "\(dir.path)/classes.txt", atomically: true, encoding: .utf8)
        let yaml = job.yaml.replacingOccurrences(of: "num_classes: \(shape.classes)", with: "classes: classes.txt")
        return (job, try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir.path))
    }

    @Test("a plan records every input file: features of each set, labels, class names, image lists; text features as artefacts")
    func recordsEveryInput() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, spec) = try Self.jobWithClassNames(in: dir)
        let plan = try Planner.plan(spec, models: CLIPModelFacts()).plan(1)
        let recorded = Set((plan.inputs ?? [:]).keys)
        #expect(recorded == Set(["id.npy", "id-labels.npy", "ood-covered.npy", "ood-uncovered.npy", "classes.txt"].map { "\(dir.path)/\($0)" }))
        for path in recorded { #expect(plan.inputs?[path] == (try ArtefactDigest.of(file: path))) }
        #expect(plan.artefacts?[plan.textFeatures] != nil && plan.inputs?[plan.textFeatures] == nil)
        #expect(Set(plan.recordedInputs.map(\.path)) == recorded.union([plan.textFeatures]))

        // Image lists are inputs too.
        var images = spec
        try "a.jpg\nb.jpg\n".write(toFile: "\(dir.path)/ood.txt", atomically: true, encoding: .utf8)
        images.ood[0].data = DatasetSpec(images: .list("\(dir.path)/ood.txt"))
        #expect(Planner.inputFiles(images).contains { $0.key == "ood[0].images" && $0.path == "\(dir.path)/ood.txt" })
    }

    @Test("labels, class names and any other recorded input changed in place (same size, modification time set back) are detected")
    func detectsEachInput() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (job, spec) = try Self.jobWithClassNames(in: dir)
        let plan = try Planner.plan(spec, models: CLIPModelFacts()).plan(1)
        try InputDigests.shared.verifyNow(plan.recordedInputs)

        // Labels: the same number of labels, two swapped.
        var labels = job.data.idLabels
        let other = try #require(labels.firstIndex { $0 != labels[0] })
        labels.swapAt(0, other)
        try NPYFile.write(.int64(labels, shape: [labels.count]), to: "\(dir.path)/relabelled.npy")
        try Self.overwrite("\(dir.path)/id-labels.npy", with: "\(dir.path)/relabelled.npy")
        #expect(throws: InputFileError.self) { try InputDigests.shared.verifyNow(plan.recordedInputs) }
        do {
            try InputDigests.shared.verifyNow(plan.recordedInputs)
        } catch {
            #expect(error.path == "\(dir.path)/id-labels.npy")
            #expect(error.description.contains("id-labels.npy changed since submission"), "\(error)")
        }
        try NPYFile.write(.int64(job.data.idLabels, shape: [labels.count]), to: "\(dir.path)/id-labels.npy")
        try InputDigests.shared.verifyNow(plan.recordedInputs)

        // Class names: same length, other names.
        try (0..<Self.shape.classes).map { "class \(($0 + 1) % Self.shape.classes)" }.joined(separator: "\n")
            .write(toFile: "\(dir.path)/classes.txt", atomically: true, encoding: .utf8)
        #expect(throws: InputFileError.self) { try InputDigests.shared.verifyNow(plan.recordedInputs) }
        try FileManager.default.removeItem(atPath: "\(dir.path)/classes.txt")
        #expect {
            try InputDigests.shared.verifyNow(plan.recordedInputs)
        } throws: { error in
            (error as? InputFileError) == .unreadable(path: "\(dir.path)/classes.txt", reason: "no such file")
        }
    }

    @Test("an OOD file replaced after submission by another set of the same size fails its task's units, naming it; the other task completes")
    func changedFeatureFileFailsItsUnits() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 16)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            // The covered set's file now holds the uncovered set (same shape, other rows).
            try Self.overwrite("\(job.directory)/ood-covered.npy", with: "\(job.directory)/ood-uncovered.npy")
            _ = try await cluster.runWorkers(2)
            let tasks = try await cluster.coordinator.tasks(job: submitted.job)
            #expect(tasks.count == 2)
            for task in tasks {
                let units = try await cluster.coordinator.units(task: task.id)
                if task.oodName == "covered" {
                    #expect(units.allSatisfy { $0.state == .failed }, "\(units.map(\.state))")
                    for unit in units {
                        #expect(unit.lastError?.contains("\(job.directory)/ood-covered.npy changed since submission") == true, "\(unit.lastError ?? "nil")")
                    }
                    #expect(try await cluster.coordinator.results(task: task.id).isEmpty)
                } else {
                    #expect(units.allSatisfy { $0.state == .done }, "\(units.map { ($0.state, $0.lastError ?? "") })")
                    let results = try await cluster.coordinator.results(task: task.id)
                    #expect(results.count == task.sampleCount && results.allSatisfy { $0.error == nil && $0.conf != nil })
                }
            }
        }
    }

    @Test("a restarted coordinator does not rebuild a bank from a changed file: the sync is refused and the task's units fail")
    func bankReloadRefusesChangedFile() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("db.sqlite").path
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered, .uncovered], batchSize: 16, unitBatches: 1, memleng: 3)
        let first = try Coordinator(databasePath: db, logger: Self.quiet)
        let submitted = try await first.submit(try job.spec())
        let task = try #require(try await first.tasks(job: submitted.job).first { $0.oodName == "covered" })
        let stream = try await first.stream(task: task.id)
        let features = job.features(sets: stream.sets, items: stream.items, kinds: [.covered, .uncovered]).rowNormalized()
        let entries = (0..<20).map { p in
            BankEntry(row: p % 30, key: BankKey(primary: Float(p % 4) / 4, position: p), feature: features.row(p))
        }
        _ = try await first.syncBank(task: task.id, since: 0, delta: BankDelta(entries: entries))

        // Replaced (a new inode) by the other set's file after submission, then a restart.
        try FileManager.default.removeItem(atPath: "\(dir.path)/ood-covered.npy")
        try FileManager.default.copyItem(atPath: "\(dir.path)/ood-uncovered.npy", toPath: "\(dir.path)/ood-covered.npy")
        let second = try Coordinator(databasePath: db, logger: Self.quiet)
        await #expect {
            _ = try await second.syncBank(task: task.id, since: 0, delta: BankDelta())
        } throws: { error in
            guard case let .inputChanged(message) = error as? StoreError else { return false }
            return message.contains("\(dir.path)/ood-covered.npy changed since submission")
        }
        await #expect(throws: StoreError.self) { _ = try await second.bankDimension(task: task.id) }

        // Leases skip (and fail) the changed task's units; the other task's are leased, with rows.
        let third = try Coordinator(databasePath: db, configuration: .init(maxAttempts: 1), logger: Self.quiet)
        var leasedTasks = Set<Int64>()
        while let grant = try await third.lease(worker: "w", host: "h").grant {
            leasedTasks.insert(grant.task)
            let rows = try UnitRowsWire.decode(try await third.unitRows(unit: grant.unit, worker: "w", attempt: grant.attempt).encoded())
            #expect(grant.stored == nil && rows.count == grant.count && rows.rowIndex.allSatisfy { $0 != nil })
            _ = try await third.fail(unit: grant.unit, worker: "w", error: "test")
        }
        #expect(!leasedTasks.contains(task.id) && leasedTasks.count == 1)
        let covered = try await third.units(task: task.id)
        #expect(covered.allSatisfy { $0.state == .failed && $0.lastError?.contains("ood-covered.npy changed since submission") == true })

        // The sequential re-score's reader refuses it too.
        await #expect {
            _ = try await second.streamFeatures(task: task.id)
        } throws: { error in
            guard case let .inputChanged(message) = error as? StoreError else { return false }
            return message.contains("ood-covered.npy changed since submission")
        }
    }

    @Test("plans stored before inputs were recorded keep working: their files are read unchecked")
    func olderPlansUnchecked() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("db.sqlite").path
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered], batchSize: 16, unitBatches: 1)
        let first = try Coordinator(databasePath: db, logger: Self.quiet)
        let submitted = try await first.submit(try job.spec())
        // The plan as an older adaneg stored it: no `inputs`, no `artefacts`.
        var plan = try await first.plan(job: submitted.job)
        plan.inputs = nil
        plan.artefacts = nil
        let json = String(decoding: try JSONEncoder().encode(plan), as: UTF8.self)
        #expect(!json.contains("\"inputs\"") && !json.contains("\"artefacts\""))
        do {
            let store = try StoreWriter(path: db)
            try store.db.prepare("UPDATE jobs SET plan_json = ? WHERE id = ?").run([.text(json), .int(submitted.job)])
        }
        try FileManager.default.removeItem(atPath: "\(dir.path)/ood-covered.npy")
        try NPYFile.writeMatrix(job.data.oodSets[1].features.storage, rows: Self.shape.oodSamples, cols: Self.shape.dimension,
                                to: "\(dir.path)/ood-covered.npy")
        let second = try Coordinator(databasePath: db, logger: Self.quiet)
        let grant = try #require(try await second.lease(worker: "w", host: "h").grant)
        let rows = try UnitRowsWire.decode(try await second.unitRows(unit: grant.unit, worker: "w", attempt: grant.attempt).encoded())
        #expect(rows.count == grant.count && rows.rowIndex.allSatisfy { $0 != nil })
        _ = try await second.syncBank(task: grant.task, since: 0, delta: BankDelta())
        #expect(try await second.units(task: grant.task).allSatisfy { $0.state != .failed })
    }

    @Test("a file is hashed once per version: a second check is a stat, a rewrite is hashed again")
    func hashedOncePerVersion() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = "\(dir.path)/x.bin"
        try Data(repeating: 7, count: 1 << 16).write(to: URL(fileURLWithPath: path))
        let digests = InputDigests()
        let recorded = try digests.digest(of: path)
        #expect(recorded == (try ArtefactDigest.of(file: path)))
        for _ in 0..<5 { try digests.verifyNow(path, recorded: recorded) }
        try await digests.verify(path, recorded: recorded)
        #expect(digests.filesHashed == 1)
        var other = Data(repeating: 7, count: 1 << 16)
        other[100] = 8
        try other.write(to: URL(fileURLWithPath: "\(dir.path)/y.bin"))
        try Self.overwrite(path, with: "\(dir.path)/y.bin")
        #expect(throws: InputFileError.self) { try digests.verifyNow(path, recorded: recorded) }
        #expect(digests.filesHashed == 2)
        let fifo = "\(dir.path)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(throws: InputFileError.unreadable(path: fifo, reason: "not a regular file")) { _ = try digests.digest(of: fifo) }
    }

    /// Writes a matrix as a float16 `.npy`, and returns it as float32 holding the same
    /// (float16-rounded) values.
    static func writeFloat16(_ m: Matrix, to path: String) throws -> Matrix {
        var data = Data(count: m.storage.count * 2)
        var rounded = m
        data.withUnsafeMutableBytes { raw in
            for (i, v) in m.storage.enumerated() {
                let h = Float16(v)
                raw.storeBytes(of: h.bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
                rounded.storage[i] = Float(h)
            }
        }
        try NPYFile.write(NPYArray(shape: [m.rows, m.cols], dtype: .float16, data: data), to: path)
        return rounded
    }

    @Test("float16 feature files score through a job exactly as float32 files holding the same (float16-rounded) values")
    func float16FeatureFiles() async throws {
        try await TestCluster.with() { cluster in
            var results = [String: [[ResultRecord]]]()
            for name in ["f16", "f32"] {
                let dir = cluster.directory.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let job = try FeaturesJob(in: dir, name: name, shape: Self.shape, batchSize: 16)
                for (file, m) in [("id.npy", job.data.idFeatures)] + job.data.oodSets.map({ ("ood-\($0.kind.rawValue).npy", $0.features) }) {
                    let path = "\(dir.path)/\(file)"
                    let rounded = try Self.writeFloat16(m, to: path)
                    if name == "f32" { try NPYFile.writeMatrix(rounded.storage, rows: rounded.rows, cols: rounded.cols, to: path) }
                }
                let submitted = try await cluster.coordinator.submit(try job.spec())
                _ = try await cluster.runWorkers(1)
                var perTask = [[ResultRecord]]()
                for task in try await cluster.coordinator.tasks(job: submitted.job) {
                    let units = try await cluster.coordinator.units(task: task.id)
                    #expect(units.allSatisfy { $0.state == .done }, "\(units.map { $0.lastError ?? "" })")
                    perTask.append(try await cluster.coordinator.results(task: task.id).sorted { $0.position < $1.position })
                }
                results[name] = perTask
            }
            let f16 = try #require(results["f16"]), f32 = try #require(results["f32"])
            #expect(f16.count == 2 && f16.map(\.count) == [Self.shape.idSamples + Self.shape.oodSamples, Self.shape.idSamples + Self.shape.oodSamples])
            #expect(f16.joined().allSatisfy { $0.error == nil && $0.conf != nil })
            #expect(f16 == f32)
        }
    }

    @Test("a worker reading its own copy of a feature file (rows the coordinator left out) checks it first: a changed copy fails the unit, naming it")
    func workerChecksItsOwnCopy() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered])
        let plan = try Planner.plan(try job.spec(), models: CLIPModelFacts()).plan(1)
        let worker = Worker(client: CoordinatorClient(base: URL(string: "http://127.0.0.1:9")!, token: nil, retryWindow: 1),
                            options: WorkerOptions(id: "w", host: "h"), logger: Self.quiet)
        // A lease without rows for an ID and an OOD sample.
        let grant = LeaseGrant(unit: 1, task: 1, job: 1, firstSample: 0, sets: [0, 1], items: [0, 0], labels: [0, -1], leaseSeconds: 30, attempt: 1)
        try await worker.checkOwnCopies(grant, plan: plan, rows: nil)
        try FileManager.default.copyItem(atPath: "\(dir.path)/id.npy", toPath: "\(dir.path)/id-copy.npy")
        try Self.overwrite("\(dir.path)/id.npy", with: "\(dir.path)/id-copy.npy")
        try await worker.checkOwnCopies(grant, plan: plan, rows: nil) // the same bytes, rewritten: still the recorded content
        var other = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/ood-covered.npy"))
        other[other.count - 1] ^= 0x01
        try other.write(to: URL(fileURLWithPath: "\(dir.path)/ood-covered.npy"))
        await #expect {
            try await worker.checkOwnCopies(grant, plan: plan, rows: nil)
        } throws: { error in
            "\(error)".contains("\(dir.path)/ood-covered.npy changed since submission")
        }
    }

    @Test("a feature file gone from the coordinator after submission fails its task's units at lease, naming it")
    func deletedFeatureFileFailsItsUnits() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try FeaturesJob(in: dir, shape: Self.shape, kinds: [.covered, .uncovered], batchSize: 16, unitBatches: 1)
        let coordinator = try Coordinator(databasePath: dir.appendingPathComponent("db.sqlite").path,
                                          configuration: .init(maxAttempts: 1), logger: Self.quiet)
        let submitted = try await coordinator.submit(try job.spec())
        try FileManager.default.removeItem(atPath: "\(dir.path)/ood-uncovered.npy")
        var leased = Set<Int64>()
        while let grant = try await coordinator.lease(worker: "w", host: "h").grant {
            leased.insert(grant.task)
            _ = try await coordinator.fail(unit: grant.unit, worker: "w", error: "test")
        }
        let tasks = try await coordinator.tasks(job: submitted.job)
        let gone = try #require(tasks.first { $0.oodName == "uncovered" })
        #expect(leased == Set(tasks.map(\.id)).subtracting([gone.id]))
        for unit in try await coordinator.units(task: gone.id) {
            #expect(unit.state == .failed && unit.lastError?.contains("\(dir.path)/ood-uncovered.npy cannot be read") == true, "\(unit.lastError ?? "")")
        }
    }
}
