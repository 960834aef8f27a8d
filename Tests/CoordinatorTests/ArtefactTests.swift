import AdaNeg
import CLIP
@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
import Logging
import Platform
import Tensor
import Testing
@testable import Worker
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The files a plan names travel from the coordinator by content (`GET /v1/artefacts/{sha256}`)
/// and feature rows travel in leases, so a worker needs no copy of the coordinator's files.
///
/// Coordinator and workers share one file system here. A worker that lacks a file is made by
/// submitting a second job with identical files in another folder and deleting that copy: the
/// coordinator serves the first job's file of the same content, the worker finds the second
/// job's path missing.
@Suite("Artefacts through the coordinator", .serialized)
struct ArtefactTests {
    static let shape = SyntheticBenchmark.Shape(classes: 10, negatives: 60, dimension: 16, idSamples: 200, oodSamples: 150)

    func get(_ cluster: TestCluster, _ path: String) async throws -> (Int, Data) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(cluster.port)\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    func folder(_ cluster: TestCluster, _ name: String) throws -> URL {
        let dir = cluster.directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func worker(_ cluster: TestCluster, cache: URL) -> Worker {
        var options = WorkerOptions(id: "fetching", host: "test", idlePoll: 0.05)
        options.artefactCache = cache
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return Worker(client: cluster.client(), options: options, logger: logger)
    }

    /// A features job in folder `a`, submitted: its plan and the text features' digest.
    func submittedFeaturesJob(_ cluster: TestCluster) async throws -> (FeaturesJob, WorkPlan, ArtefactDigest) {
        let job = try FeaturesJob(in: try folder(cluster, "a"), shape: Self.shape)
        let submitted = try await cluster.coordinator.submit(try job.spec())
        let plan = try await cluster.coordinator.plan(job: submitted.job)
        return (job, plan, try #require(plan.artefacts?[plan.textFeatures]))
    }

    /// Jobs "here" (folder a) and "elsewhere" (folder b) with identical files, submitted; b's
    /// text features are then deleted, so they are only "on the coordinator", as a's copy.
    /// (b's feature files stay: the coordinator reads them for the leases.)
    func twoJobsOneWithoutItsTextFeatures(_ cluster: TestCluster) async throws -> (FeaturesJob, SubmitResponse, SubmitResponse) {
        let a = try FeaturesJob(in: try folder(cluster, "a"), name: "here", shape: Self.shape)
        let b = try FeaturesJob(in: try folder(cluster, "b"), name: "elsewhere", shape: Self.shape)
        let submittedA = try await cluster.coordinator.submit(try a.spec())
        let submittedB = try await cluster.coordinator.submit(try b.spec())
        try FileManager.default.removeItem(atPath: "\(b.directory)/text.npy")
        return (b, submittedA, submittedB)
    }

    @Test("a submitted plan records each file's digest; the coordinator serves it by digest, and only that")
    func serving() async throws {
        try await TestCluster.with() { cluster in
            let (job, plan, digest) = try await submittedFeaturesJob(cluster)
            #expect(digest == (try ArtefactDigest.of(file: plan.textFeatures)))
            let bytes = try Data(contentsOf: URL(fileURLWithPath: plan.textFeatures))
            #expect(digest.bytes == bytes.count)

            let (ok, served) = try await get(cluster, "/v1/artefacts/\(digest.sha256)")
            #expect(ok == 200 && served == bytes)
            #expect(try await get(cluster, "/v1/artefacts/\(String(repeating: "0", count: 64))").0 == 404)
            #expect(try await get(cluster, "/v1/artefacts/\(digest.sha256.uppercased())").0 == 400)
            #expect(try await get(cluster, "/v1/artefacts/..%2F..%2Fetc%2Fpasswd").0 == 400)
            // Feature files travel as rows in leases, never as files: not served.
            let idDigest = try ArtefactDigest.of(file: "\(job.directory)/id.npy")
            #expect(try await get(cluster, "/v1/artefacts/\(idDigest.sha256)").0 == 404)

            // A file that changed size since submission is refused, naming it.
            try (bytes + Data([1, 2, 3])).write(to: URL(fileURLWithPath: plan.textFeatures))
            let (conflict, message) = try await get(cluster, "/v1/artefacts/\(digest.sha256)")
            let text = String(decoding: message, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
            #expect(conflict == 409 && text.contains(plan.textFeatures) && text.contains("\(bytes.count + 3) bytes now"), "\(text)")
        }
    }

    @Test("a restarted coordinator serves the files of jobs submitted before it started")
    func servingAfterRestart() async throws {
        try await TestCluster.with() { cluster in
            let (_, plan, digest) = try await submittedFeaturesJob(cluster)
            let restarted = try Coordinator(databasePath: await cluster.coordinator.databasePath, models: CLIPModelFacts())
            let found = try await restarted.artefact(sha256: digest.sha256)
            #expect(found?.path == plan.textFeatures && found?.bytes == digest.bytes)
            #expect(try await restarted.artefact(sha256: String(repeating: "a", count: 64)) == nil)
        }
    }

    @Test("a lease of a features job carries no rows; its holder fetches them raw over HTTP and normalises them as a reader of the file would")
    func rowsInLeases() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: try folder(cluster, "a"), shape: Self.shape)
            _ = try await cluster.coordinator.submit(try job.spec())
            let client = cluster.client()
            let grant = try #require(try await client.lease(worker: "w", host: "h").grant)
            #expect(grant.stored == nil)
            let rows = try await client.rows(unit: grant.unit, worker: "w", attempt: grant.attempt)
            let raw = job.features(sets: grant.sets, items: grant.items, kinds: [.covered, .uncovered])
            let expected = raw.rowNormalized()
            #expect(rows.dimension == Self.shape.dimension && rows.count == grant.count)
            for i in 0..<grant.count {
                let row = try #require(rows.row(i), "sample \(i) has no row")
                #expect(Array(row) == Array(raw.row(i)), "sample \(i): the file's values")
                #expect(try FeatureFileRows.normalized(Array(row), path: "features", item: grant.items[i]) == Array(expected.row(i)), "sample \(i)")
            }
        }
    }

    @Test("a worker without the job's text features fetches them once and scores exactly as with them")
    func textFeaturesFetched() async throws {
        try await TestCluster.with() { cluster in
            let (b, submittedA, submittedB) = try await twoJobsOneWithoutItsTextFeatures(cluster)
            let jobA = submittedA.job, jobB = submittedB.job
            let cache = cluster.directory.appendingPathComponent("cache")
            let w = worker(cluster, cache: cache)
            try await w.run()
            #expect(await w.report.samples == submittedA.samples + submittedB.samples)

            let digest = try #require(try await cluster.coordinator.plan(job: jobB).artefacts?["\(b.directory)/text.npy"])
            let entry = cache.appendingPathComponent("sha256/\(digest.sha256)")
            #expect(try ArtefactDigest.of(file: entry.path) == digest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("partial").path).isEmpty)

            let tasksA = try await cluster.coordinator.tasks(job: jobA), tasksB = try await cluster.coordinator.tasks(job: jobB)
            try #require(tasksA.count == tasksB.count && !tasksA.isEmpty)
            for (ta, tb) in zip(tasksA, tasksB) {
                let ra = try await cluster.coordinator.results(task: ta.id), rb = try await cluster.coordinator.results(task: tb.id)
                try #require(ra.count == rb.count && ra.count == ta.sampleCount)
                for (x, y) in zip(ra, rb) {
                    #expect(x.position == y.position && x.pred == y.pred && x.conf == y.conf && x.confVanilla == y.confVanilla,
                            "task \(tb.oodName) position \(y.position)")
                }
            }
        }
    }

    @Test("the cache: a fetched file is reused, a corrupt entry is fetched again, and bytes that do not match are never kept")
    func cacheIntegrity() async throws {
        try await TestCluster.with() { cluster in
            let (job, plan, digest) = try await submittedFeaturesJob(cluster)
            let original = try Data(contentsOf: URL(fileURLWithPath: plan.textFeatures))
            let root = cluster.directory.appendingPathComponent("cache")
            let cache = ArtefactCache(root: root, client: cluster.client())
            let missing = cluster.directory.appendingPathComponent("not-here/text.npy").path

            let first = try await cache.file(missing, digest: digest)
            guard case .fetched = first.source else { Issue.record("first use: \(first.source)"); return }
            #expect(try Data(contentsOf: URL(fileURLWithPath: first.path)) == original)
            #expect(try await cache.file(missing, digest: digest).source == .cached)
            // The planned path itself, when it holds the content.
            #expect(try await cache.file(plan.textFeatures, digest: digest) == (plan.textFeatures, .planned))

            // A corrupt entry (same size, one byte changed) is replaced by a fresh copy.
            var corrupt = original
            corrupt[corrupt.count / 2] ^= 0xFF
            try corrupt.write(to: URL(fileURLWithPath: first.path))
            let again = try await cache.file(missing, digest: digest)
            guard case .fetched = again.source else { Issue.record("after corruption: \(again.source)"); return }
            #expect(try Data(contentsOf: URL(fileURLWithPath: again.path)) == original)

            // The coordinator's file changed under it (same size): the download is discarded.
            try FileManager.default.removeItem(atPath: again.path)
            try corrupt.write(to: URL(fileURLWithPath: plan.textFeatures))
            await #expect(throws: ArtefactError.self) { _ = try await cache.file(missing, digest: digest) }
            #expect(!FileManager.default.fileExists(atPath: again.path))
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("partial").path).isEmpty)

            // A digest from the network that is not one is refused before anything is fetched.
            await #expect(throws: ArtefactError.self) {
                _ = try await cache.file(missing, digest: ArtefactDigest(sha256: "../../etc/passwd", bytes: 10))
            }
            await #expect(throws: ArtefactError.self) {
                _ = try await cache.file(missing, digest: ArtefactDigest(sha256: digest.sha256, bytes: ArtefactDigest.maxBytes + 1))
            }
        }
    }

    @Test("the coordinator's file changed after submission: each unit fails with the reason and is parked; the worker finishes")
    func changedOnTheCoordinator() async throws {
        try await TestCluster.with() { cluster in
            let (job, _, _) = try await submittedFeaturesJob(cluster)
            // Longer than recorded: the coordinator answers 409, and this worker's copy differs too.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(job.directory)/text.npy"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(repeating: 0, count: 64))
            try handle.close()
            let w = worker(cluster, cache: cluster.directory.appendingPathComponent("cache"))
            try await w.run()
            #expect(await w.report.units == 0)
            let status = try await cluster.coordinator.status(job: "test-job")
            #expect(status.units.failed == status.units.total && status.units.total > 0)
            for unit in status.failed {
                #expect(unit.attempts == 3)
                #expect(unit.error.contains("negatives.text_features") && unit.error.contains("409"), "\(unit.error)")
            }
        }
    }

    @Test("an artefact cache this machine cannot write: the unit goes back to the queue and the worker stops, naming the cache")
    func cacheNotWritable() async throws {
        try await TestCluster.with() { cluster in
            _ = try await twoJobsOneWithoutItsTextFeatures(cluster)
            // A file where the cache folder should be: nothing can be created under it.
            let cache = cluster.directory.appendingPathComponent("cache-is-a-file")
            try Data("x".utf8).write(to: cache)
            let w = worker(cluster, cache: cache)
            await #expect {
                try await w.run()
            } throws: { error in
                guard case WorkerError.storage(let message) = error else { return false }
                return message.contains("negatives.text_features") && message.contains(cache.path)
            }
            let status = try await cluster.coordinator.status(job: "elsewhere")
            #expect(status.units.failed == 0 && status.units.leased == 0 && status.units.pending == status.units.total)
        }
    }

    /// The image job's plan with its model folder moved to `path`: the artefacts keep their
    /// digests under the new folder's names, as a coordinator records them.
    func plan(_ plan: WorkPlan, modelAt path: String) throws -> WorkPlan {
        var moved = plan
        let old = try #require(plan.model).path
        moved.model?.path = path
        moved.artefacts = Dictionary(uniqueKeysWithValues: (plan.artefacts ?? [:]).map { key, digest in
            (key.hasPrefix(old + "/") ? path + key.dropFirst(old.count) : key, digest)
        })
        return moved
    }

    @Test("a worker without the job's model folder, or with another model under its path, loads the coordinator's copy")
    func modelFetched() async throws {
        try await TestCluster.with() { cluster in
            let setup = try ImageJobTests.Setup(in: cluster.directory)
            let submitted = try await cluster.coordinator.submit(try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: cluster.directory.path))
            let planned = try await cluster.coordinator.plan(job: submitted.job)
            let model = try #require(planned.model)
            let names = Set((planned.artefacts ?? [:]).keys.filter { $0.hasPrefix(model.path + "/") }.map { ($0 as NSString).lastPathComponent })
            #expect(names == Set(try CLIPModel.checkpointFiles(in: model.path)))

            let image = try ImageDecoder.decode(path: ImageJobTests.fixtures.appendingPathComponent("images/photo.jpg").path)
            let reference = try CLIPModel(directory: model.path, towers: .vision).embedImages([image])

            // Missing here: the coordinator's files, in a folder of links in the cache.
            let w = worker(cluster, cache: cluster.directory.appendingPathComponent("cache"))
            let elsewhere = try plan(planned, modelAt: cluster.directory.appendingPathComponent("absent/model").path)
            let local = try await w.localModel(try #require(elsewhere.model), plan: elsewhere)
            #expect(local.path.hasPrefix(cluster.directory.appendingPathComponent("cache/models").path))
            #expect(try CLIPModel(directory: local.path, towers: .vision).embedImages([image]).storage == reference.storage)

            // Another model under the planned path (a different tiny checkpoint): refused by its
            // checksum, then the coordinator's copy is used and embeds as the planned model does.
            let other = cluster.directory.appendingPathComponent("other/model")
            try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
            let otherName = "tiny-p32-gelu-bf16"
            try Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("models/\(otherName)/config.json")).write(to: other.appendingPathComponent("config.json"))
            try Gzip.decompress(Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("models/\(otherName)/model.safetensors.gz")))
                .write(to: other.appendingPathComponent("model.safetensors"))
            let shadowed = try plan(planned, modelAt: other.path)
            let embedder = try await w.embedder(try #require(shadowed.model), plan: shadowed)
            let results = await embedder.embed([ImageJobTests.fixtures.appendingPathComponent("images/photo.jpg").absoluteString])
            guard case var .feature(f) = try #require(results.first) else { Issue.record("not embedded: \(results)"); return }
            var expected = reference.storage
            UnitNorm.normalize(&f)
            UnitNorm.normalize(&expected)
            #expect(zip(f, expected).allSatisfy { abs($0 - $1) <= 1e-6 })

            // Without a cache (a shared file system) the mismatch stays an error naming the path.
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let plain = Worker(client: cluster.client(), options: WorkerOptions(id: "plain", host: "test"), logger: logger)
            await #expect(throws: WorkerError.self) { _ = try await plain.embedder(try #require(shadowed.model), plan: shadowed) }
        }
    }

    @Test("local images: a data root that is not on the worker's machine refuses the unit, naming it; a missing file or sub-folder under a root that is here stays that sample's error")
    func localImagesNeedTheirRoot() async throws {
        try await TestCluster.with() { cluster in
            let w = worker(cluster, cache: cluster.directory.appendingPathComponent("cache"))
            let root = cluster.directory.path
            let here = cluster.directory.appendingPathComponent("missing.jpg").absoluteString
            try await w.checkLocalImages([here, "https://example.invalid/a.jpg"], roots: [root, nil])
            // A folder that does not exist under a root that does: the samples' errors, not the unit's.
            let inMissingFolder = cluster.directory.appendingPathComponent("no-such-class/a.jpg").absoluteString
            try await w.checkLocalImages([here, inMissingFolder], roots: [root, root])
            // The whole root missing: the data is not here at all.
            let absentRoot = cluster.directory.appendingPathComponent("elsewhere/data").path
            let absent = cluster.directory.appendingPathComponent("elsewhere/data/a.jpg").absoluteString
            do {
                try await w.checkLocalImages([here, absent], roots: [root, absentRoot])
                Issue.record("a missing data root was accepted")
            } catch let WorkerError.input(message) {
                #expect(message.contains(absentRoot) && message.contains("data root") && message.contains("shared file system"), "\(message)")
            }
            // Plans from before roots were recorded: the image's folder stands in for the root.
            do {
                try await w.checkLocalImages([here, absent], roots: [nil, nil])
                Issue.record("a missing image folder was accepted")
            } catch let WorkerError.input(message) {
                #expect(message.contains(absentRoot) && message.contains("shared file system"), "\(message)")
            }
        }
    }
}
