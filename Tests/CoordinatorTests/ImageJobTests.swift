import AdaNeg
import CLIP
import Coordinator
import Foundation
import JobPlan
import JobProtocol
import JobSpec
@testable import JobStore
import NPY
import Platform
import Tensor
import Testing
import Worker

/// Jobs whose sets are images: workers fetch, embed (a tiny random-weight CLIP from the CLIP
/// tests' fixtures) and score them; features are stored per image and model.
@Suite("Image jobs", .serialized)
struct ImageJobTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("CLIPTests/Fixtures")

    /// A data root with ID images of two classes, two OOD sets, and broken files in the first
    /// OOD set (empty, truncated JPEG, HTML named .jpg, missing), plus the job's other inputs.
    struct Setup {
        let root: URL
        let yaml: String
        let model: String
        /// Unreadable images of the first OOD set, each that sample's error: see `init`.
        static let broken = ["empty.jpg", "truncated.jpg", "page.jpg", "missing.jpg", "bomb.png", "gone/lost.jpg", "fifo.jpg", "big16.png"]
        let brokenCount = Setup.broken.count

        init(in dir: URL, name: String = "images", proxy: ProxyKind = .task, keepFeatures: Bool = true) throws {
            let root = dir.appendingPathComponent("data")
            self.root = root
            let fm = FileManager.default
            for sub in ["id/a", "id/b", "ood1", "ood2"] { try fm.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true) }
            let images = try fm.contentsOfDirectory(atPath: ImageJobTests.fixtures.appendingPathComponent("images").path)
                .filter { !$0.hasPrefix("tiny") }.sorted()
            func copy(_ file: String, to relative: String) throws {
                try Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("images/\(file)")).write(to: root.appendingPathComponent(relative))
            }
            var idList = "", ood1 = "", ood2 = ""
            for (i, file) in images.enumerated() {
                let ext = (file as NSString).pathExtension
                try copy(file, to: "id/\(i % 2 == 0 ? "a" : "b")/\(i).\(ext)")
                idList += "id/\(i % 2 == 0 ? "a" : "b")/\(i).\(ext) \(i % 2)\n"
                try copy(file, to: "ood\(i % 2 + 1)/x\(i).\(ext)")
                if i % 2 == 0 { ood1 += "ood1/x\(i).\(ext)\n" } else { ood2 += "ood2/x\(i).\(ext)\n" }
            }
            let photo = try Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("images/photo.jpg"))
            try Data().write(to: root.appendingPathComponent("ood1/empty.jpg"))
            try photo.prefix(600).write(to: root.appendingPathComponent("ood1/truncated.jpg"))
            try Data("<html><body>not found</body></html>".utf8).write(to: root.appendingPathComponent("ood1/page.jpg"))
            try ImageJobTests.decompressionBomb().write(to: root.appendingPathComponent("ood1/bomb.png"))
            // A 16-bit RGB PNG declaring 13000 × 13000 (about 1.2 GB to decode in full): over the
            // default pixel limit, refused from its header.
            try ImageJobTests.decompressionBomb(side: 13_000, bitDepth: 16).write(to: root.appendingPathComponent("ood1/big16.png"))
            // A FIFO would block its reader forever; `gone/` is a folder that does not exist.
            guard mkfifo(root.appendingPathComponent("ood1/fifo.jpg").path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
            ood1 += Setup.broken.map { "ood1/\($0)\n" }.joined()
            try idList.write(to: dir.appendingPathComponent("id.txt"), atomically: true, encoding: .utf8)
            try ood1.write(to: dir.appendingPathComponent("ood1.txt"), atomically: true, encoding: .utf8)
            try ood2.write(to: dir.appendingPathComponent("ood2.txt"), atomically: true, encoding: .utf8)

            let modelDir = dir.appendingPathComponent("model")
            try fm.createDirectory(at: modelDir, withIntermediateDirectories: true)
            let modelName = "tiny-p32-quickgelu-fp32"
            try Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("models/\(modelName)/config.json"))
                .write(to: modelDir.appendingPathComponent("config.json"))
            try Gzip.decompress(Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("models/\(modelName)/model.safetensors.gz")))
                .write(to: modelDir.appendingPathComponent("model.safetensors"))
            for file in ["vocab.json", "merges.txt"] {
                try Gzip.decompress(Data(contentsOf: ImageJobTests.fixtures.appendingPathComponent("tokenizer/\(file).gz")))
                    .write(to: modelDir.appendingPathComponent(file))
            }
            model = modelDir.path

            // 2 ID classes + 12 negatives in 32 dimensions, seeded.
            var rng = SplitMix64(seed: 11)
            var text = Matrix(rows: 14, cols: 32)
            for i in text.storage.indices { text.storage[i] = Float.random(in: -1...1, using: &rng) }
            try NPYFile.writeMatrix(text.storage, rows: 14, cols: 32, to: dir.appendingPathComponent("text.npy").path)
            yaml = """
            name: \(name)
            model: model
            data_root: data
            id: {num_classes: 2, images: {list: id.txt}}
            ood:
              - {name: first, images: {list: ood1.txt}}
              - {name: second, images: {list: ood2.txt}}
            negatives: {text_features: text.npy, count: 12}
            scoring: {batch_size: 4, memleng: 3, groups: 2, thres: 0.5, gap: 0, proxy: \(proxy.rawValue)}
            seed: 3
            unit_batches: 2
            keep_features: \(keepFeatures)
            """
        }
    }

    /// A 67-byte PNG that declares 50,000 × 50,000 pixels (2.5 gigapixels, 7.5 GB decoded):
    /// refused from its header.
    static func decompressionBomb(side: UInt32 = 50_000, bitDepth: UInt8 = 8) -> Data {
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return ~c
        }
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return be(UInt32(body.count)) + typed + be(crc32(typed))
        }
        let header = be(side) + be(side) + [bitDepth, 2, 0, 0, 0]
        let idat: [UInt8] = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", idat) + chunk("IEND", []))
    }

    /// The sequential reference: every image embedded straight from its file with CLIP,
    /// unreadable ones left out, scored in batches of stream positions.
    static func sequential(cluster: TestCluster, task: Int64, setup: Setup, spec: JobSpec, refs: [Int: [String]],
                           precision: Precision = .fp32) async throws -> [Int: SampleScore] {
        let clip = try CLIPModel(directory: setup.model, towers: .vision, precision: precision)
        let stream = try await cluster.coordinator.stream(task: task)
        let (rows, cols, values) = try NPYFile.readMatrix(spec.negatives.textFeatures ?? "")
        var scorer = try AdaNegScorer(text: Matrix(rows: rows, cols: cols, storage: values).rowNormalized(),
                                      numID: 2, parameters: spec.scoring, permutation: .seed(spec.seed))
        var out = [Int: SampleScore]()
        for start in stride(from: 0, to: stream.sets.count, by: spec.scoring.batchSize) {
            var rows = [Float](), positions = [Int]()
            for p in start ..< min(stream.sets.count, start + spec.scoring.batchSize) {
                guard let ref = refs[stream.sets[p]]?[stream.items[p]], let url = URL(string: ref),
                      let image = try? ImageDecoder.decode(path: url.path) else { continue }
                rows += try clip.embedImages([image]).storage
                positions.append(p)
            }
            guard !positions.isEmpty else { continue }
            let batch = Matrix(rows: positions.count, cols: 32, storage: rows).rowNormalized()
            let scores = scorer.finishBatch(try scorer.beginBatch(batch, positions: positions))
            for (p, s) in zip(positions, scores) { out[p] = s }
        }
        return out
    }

    /// Reference URLs per set index, as the planner resolves them.
    static func refs(_ setup: Setup, dir: URL) throws -> [Int: [String]] {
        var out = [Int: [String]]()
        for (set, list) in ["id.txt", "ood1.txt", "ood2.txt"].enumerated() {
            let lines = try String(contentsOf: dir.appendingPathComponent(list), encoding: .utf8).split(separator: "\n")
            out[set] = lines.map { setup.root.appendingPathComponent(String($0.split(separator: " ")[0])).standardizedFileURL.absoluteString }
        }
        return out
    }

    @Test("a job of images completes with per-sample errors, embeds each image once, and matches CLIP + the sequential scorer")
    func endToEnd() async throws {
        try await TestCluster.with() { cluster in
            let dir = cluster.directory
            let setup = try Setup(in: dir)
            let spec = try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: dir.path)
            let submitted = try await cluster.coordinator.submit(spec)
            let refs = try Self.refs(setup, dir: dir)
            let idCount = refs[0]?.count ?? 0
            let unique = idCount + (refs[1]?.count ?? 0) + (refs[2]?.count ?? 0)
            #expect(submitted.samples == 2 * idCount + (refs[1]?.count ?? 0) + (refs[2]?.count ?? 0))

            let reports = try await cluster.runWorkers(1)
            // The ID images are in both tasks' streams but are embedded once.
            #expect(reports[0].embedded == unique)
            #expect(reports[0].sampleErrors == setup.brokenCount)

            for task in try await cluster.coordinator.tasks(job: submitted.job) {
                let stored = try await cluster.coordinator.results(task: task.id)
                #expect(stored.count == task.sampleCount)
                let errors = stored.compactMap(\.error)
                if task.oodName == "first" {
                    #expect(errors.count == setup.brokenCount)
                    for name in Setup.broken {
                        #expect(errors.contains { $0.contains(name) }, "no error names \(name): \(errors)")
                    }
                    #expect(errors.contains { $0.contains("bomb.png") && $0.contains("exceeds the pixel limit") }, "\(errors)")
                    #expect(errors.contains { $0.contains("big16.png") && $0.contains("13000x13000") && $0.contains("89478485") }, "\(errors)")
                    #expect(errors.contains { $0.contains("fifo.jpg") && $0.contains("is a FIFO, not a regular file") }, "\(errors)")
                    #expect(errors.contains { $0.contains("gone/lost.jpg") && $0.contains("no such file") }, "\(errors)")
                } else {
                    #expect(errors.isEmpty)
                }
                let expected = try await Self.sequential(cluster: cluster, task: task.id, setup: setup, spec: spec, refs: refs)
                #expect(expected.count == stored.count - errors.count)
                for r in stored where r.error == nil {
                    let e = try #require(expected[r.position])
                    #expect(r.pred == e.pred, "position \(r.position)")
                    #expect(abs((r.conf ?? .nan) - e.conf) <= 1e-5, "position \(r.position): \(r.conf ?? .nan) vs \(e.conf)")
                }
            }

            // Re-scoring (another proxy, a new job over the same images) embeds nothing.
            let again = try await cluster.coordinator.submit(try JobSpecLoader.parse(
                yaml: setup.yaml.replacingOccurrences(of: "name: images", with: "name: images-again")
                    .replacingOccurrences(of: "proxy: task", with: "proxy: sample"), baseDirectory: dir.path))
            let second = try await cluster.runWorkers(1)
            #expect(second[0].embedded == 0)
            #expect(second[0].samples == again.samples)
        }
    }

    @Test("a bf16 job embeds in bf16, keeps its features apart from fp32 ones, and matches bf16 CLIP + the sequential scorer")
    func bf16Job() async throws {
        try await TestCluster.with() { cluster in
            let dir = cluster.directory
            let setup = try Setup(in: dir)
            let refs = try Self.refs(setup, dir: dir)
            let unique = (refs[0]?.count ?? 0) + (refs[1]?.count ?? 0) + (refs[2]?.count ?? 0)
            _ = try await cluster.coordinator.submit(try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: dir.path))
            #expect(try await cluster.runWorkers(1)[0].embedded == unique)

            let bf16YAML = setup.yaml.replacingOccurrences(of: "name: images", with: "name: images-bf16") + "\nprecision: bf16\n"
            let spec = try JobSpecLoader.parse(yaml: bf16YAML, baseDirectory: dir.path)
            #expect(spec.precision == .bf16)
            let submitted = try await cluster.coordinator.submit(spec)
            let model = try #require(try await cluster.coordinator.plan(job: submitted.job).model)
            #expect(model.precision == .bf16 && model.featureKey.hasSuffix("/bf16"))
            // The fp32 features of the same images are not reused: every image is embedded again.
            #expect(try await cluster.runWorkers(1)[0].embedded == unique)
            for task in try await cluster.coordinator.tasks(job: submitted.job) {
                let stored = try await cluster.coordinator.results(task: task.id)
                let expected = try await Self.sequential(cluster: cluster, task: task.id, setup: setup, spec: spec, refs: refs, precision: .bf16)
                for r in stored where r.error == nil {
                    let e = try #require(expected[r.position])
                    #expect(r.pred == e.pred, "position \(r.position)")
                    #expect(abs((r.conf ?? .nan) - e.conf) <= 1e-5, "position \(r.position): \(r.conf ?? .nan) vs \(e.conf)")
                }
            }
            // A second bf16 job over the same images reuses the bf16 features.
            _ = try await cluster.coordinator.submit(try JobSpecLoader.parse(
                yaml: bf16YAML.replacingOccurrences(of: "name: images-bf16", with: "name: images-bf16-again"), baseDirectory: dir.path))
            #expect(try await cluster.runWorkers(1)[0].embedded == 0)
        }
    }

    @Test("a restarted coordinator rebuilds image banks from the stored features")
    func bankReload() async throws {
        try await TestCluster.with() { cluster in
            let setup = try Setup(in: cluster.directory)
            let submitted = try await cluster.coordinator.submit(try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: cluster.directory.path))
            _ = try await cluster.runWorkers(1)
            let restarted = try Coordinator(databasePath: await cluster.coordinator.databasePath, models: CLIPModelFacts())
            for task in try await cluster.coordinator.tasks(job: submitted.job) {
                let (before, _) = try await cluster.coordinator.syncBank(task: task.id, since: 0, delta: BankDelta())
                let (after, _) = try await restarted.syncBank(task: task.id, since: 0, delta: BankDelta())
                #expect(!before.entries.isEmpty)
                #expect(after.entries.count == before.entries.count)
                let byPosition = Dictionary(uniqueKeysWithValues: before.entries.map { ($0.key.position, $0) })
                for e in after.entries {
                    let b = try #require(byPosition[e.key.position])
                    #expect(b.row == e.row)
                    #expect(zip(b.feature, e.feature).allSatisfy { abs($0 - $1) <= 1e-6 })
                }
            }
        }
    }

    @Test("keep_features: false drops the job's features once it is done")
    func dropFeatures() async throws {
        try await TestCluster.with() { cluster in
            let setup = try Setup(in: cluster.directory, keepFeatures: false)
            let submitted = try await cluster.coordinator.submit(try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: cluster.directory.path))
            _ = try await cluster.runWorkers(1)
            for task in try await cluster.coordinator.tasks(job: submitted.job) {
                let features = try await cluster.coordinator.streamFeatures(task: task.id)
                #expect(features.positions.isEmpty)
                #expect(features.missing.count == task.sampleCount)
            }
        }
    }

    @Test("references that leave the data root through a symlink are refused at submission")
    func symlinkEscape() async throws {
        try await TestCluster.with() { cluster in
            let dir = cluster.directory
            let setup = try Setup(in: dir)
            let outside = dir.appendingPathComponent("outside.jpg")
            try Data(contentsOf: Self.fixtures.appendingPathComponent("images/photo.jpg")).write(to: outside)
            try FileManager.default.createSymbolicLink(at: setup.root.appendingPathComponent("ood2/link.jpg"), withDestinationURL: outside)
            try "ood2/link.jpg\n".write(to: dir.appendingPathComponent("ood2.txt"), atomically: true, encoding: .utf8)
            let spec = try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: dir.path)
            let outcome: Result<SubmitResponse, StoreError>
            do throws(StoreError) { outcome = .success(try await cluster.coordinator.submit(spec)) } catch { outcome = .failure(error) }
            guard case let .failure(.invalidJob(problems)) = outcome else {
                Issue.record("a symlink out of the data root was not refused: \(outcome)")
                return
            }
            #expect(problems.contains { $0.contains("link.jpg") && $0.contains("ood[1]") }, "\(problems)")
            #expect(try await cluster.coordinator.jobs().isEmpty)
        }
    }

    @Test("a completion whose features are malformed is refused and stores nothing")
    func malformedFeatures() async throws {
        try await TestCluster.with() { cluster in
            let setup = try Setup(in: cluster.directory)
            _ = try await cluster.coordinator.submit(try JobSpecLoader.parse(yaml: setup.yaml, baseDirectory: cluster.directory.path))
            let grant = try #require(try await cluster.coordinator.lease(worker: "w", host: "h").grant)
            #expect(grant.refs?.count == grant.count && grant.stored?.count == grant.count)
            let n = grant.count
            let results = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0, count: n),
                                      confVanilla: Array(repeating: 0, count: n), mcm: Array(repeating: 0, count: n),
                                      adaptive: Array(repeating: 0, count: n), errors: Array(repeating: nil, count: n))
            let short = StoredFeatures(dimension: 32, rows: Array(0..<n).map { Optional($0) }, errors: Array(repeating: nil, count: n),
                                       vectors: Data(count: 4 * 32 * (n - 1)))
            let wrongDimension = StoredFeatures(dimension: 16, features: Array(repeating: [Float](repeating: 1, count: 16), count: n),
                                                errors: Array(repeating: nil, count: n))
            for bad in [short, wrongDimension] {
                let request = CompletionRequest(worker: "w", attempt: grant.attempt, results: results, computeSeconds: 0, waitSeconds: 0, features: bad)
                await #expect(throws: StoreError.self) { try await cluster.coordinator.complete(unit: grant.unit, request) }
            }
            #expect(try await cluster.coordinator.results(task: grant.task).isEmpty)
            let features = try await cluster.coordinator.streamFeatures(task: grant.task)
            #expect(features.positions.isEmpty)
            #expect(try await cluster.coordinator.units(task: grant.task).first { $0.id == grant.unit }?.state == .leased)
        }
    }
}
