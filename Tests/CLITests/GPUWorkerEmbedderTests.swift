@testable import AdaNegCLI
import CLIP
import Coordinator
import CUDABackend
import Foundation
import JobClient
import JobPlan
import JobProtocol
import JobSpec
import Logging
import NPY
import Platform
import Testing
import Worker

/// The worker's GPU image embedder run on `HostDevice`, the CPU double of the device layer:
/// its features against the CPU fp32 embedder's, the precision rule, and a device error in the
/// middle of a unit, which must give the unit back (not fail it) and say why.
@Suite("GPU worker embedder", .serialized)
struct GPUWorkerEmbedderTests {
    static let images = ["drawing.png", "drawing_odd.png", "drawing_grey.png", "drawing_rgba.png", "drawing_palette.png"]

    static func refs() -> [String] {
        images.map { TextCommandsTests.fixtures.appendingPathComponent("images/\($0)").absoluteString }
    }

    static func source(_ model: String, _ precision: Precision) throws -> ModelSource {
        ModelSource(path: model, checksum: try ModelChecksum.of(directory: model), resize: nil, crop: nil, precision: precision)
    }

    @Test("bf16 on the device double matches the CPU fp32 embedder: cosine ≥ 0.999 per image; a bad image stays one image's failure")
    func matchesCPU() async throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try Data("<html></html>".utf8).write(to: URL(fileURLWithPath: s.path("page.jpg")))
        let refs = Self.refs() + [URL(fileURLWithPath: s.path("page.jpg")).absoluteString]
        let cpu = try CLIPImageEmbedder(source: try Self.source(model, .fp32))
        let gpu = try GPUImageEmbedder(source: try Self.source(model, .bf16), device: HostDevice(), batchSize: 2)
        let expected = await cpu.embed(refs)
        let got = try await gpu.embedUnit(refs)
        #expect(got.count == refs.count)
        for (i, (a, b)) in zip(expected, got).enumerated() {
            switch (a, b) {
            case let (.feature(x), .feature(y)):
                #expect(x.count == y.count)
                let c = cosine(x, y)
                #expect(c >= 0.999, "\(refs[i]): cosine \(c)")
            case (.failure, .failure):
                #expect(i == refs.count - 1)
            default:
                Issue.record("\(refs[i]): CPU \(a), GPU \(b)")
            }
        }
    }

    @Test("a job planned in fp32 is refused: GPU bf16 features never land in an fp32 bank")
    func refusesFP32Jobs() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        #expect(try Self.source(model, .fp32).featureKey != (try Self.source(model, .bf16).featureKey))
        do {
            _ = try GPUImageEmbedder(source: try Self.source(model, .fp32), device: HostDevice())
            Issue.record("an fp32 job was accepted on the GPU")
        } catch let error as WorkerError {
            #expect(error.releasesUnit)
            #expect(error.description.contains("planned in fp32"), "\(error)")
        }
        #expect(throws: WorkerError.self) { _ = try GPUImageEmbedder(source: try Self.source(model, .bf16), device: HostDevice(lowPrecision: .fp16)) }
    }

    @Test("a CUDA error in the middle of a unit releases the unit with the reason, and fails nothing")
    func deviceErrorReleasesTheUnit() async throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        var list = ""
        for (i, name) in Self.images.enumerated() {
            try FileManager.default.copyItem(atPath: TextCommandsTests.fixtures.appendingPathComponent("images/\(name)").path, toPath: s.path("img\(i).png"))
            list += "img\(i).png \(i % 2)\n"
        }
        try list.write(toFile: s.path("id.txt"), atomically: true, encoding: .utf8)
        try list.write(toFile: s.path("ood.txt"), atomically: true, encoding: .utf8)
        var text = [Float]()
        for i in 0..<(14 * 32) { text.append(Float((i * 37) % 19) / 19 - 0.5) }
        try NPYFile.writeMatrix(text, rows: 14, cols: 32, to: s.path("text.npy"))
        let yaml = """
        name: gpu-release
        model: \(model)
        data_root: .
        id: {num_classes: 2, images: {list: id.txt}}
        ood:
          - {name: odd, images: {list: ood.txt}}
        negatives: {text_features: text.npy, count: 12}
        scoring: {batch_size: 4, memleng: 3, groups: 2}
        precision: bf16
        unit_batches: 2
        """
        let spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: s.url.path)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let coordinator = try Coordinator(databasePath: s.path("db.sqlite"), models: CLIPModelFacts(), logger: logger)
        try await InProcessServer.serving(coordinator: coordinator, options: ServerOptions(host: "127.0.0.1", port: 0, token: nil), logger: logger) { server in
            let submitted = try await coordinator.submit(spec)
            let base = try #require(URL(string: "http://127.0.0.1:\(server.port)"))

            let device = FailingDevice(failOnGemm: 6)
            var options = WorkerOptions(id: "gpu-worker", host: "test", idlePoll: 0.05)
            options.makeEmbedder = { source in try GPUImageEmbedder(source: source, device: device, batchSize: 2) }
            let worker = Worker(client: CoordinatorClient(base: base, token: nil, retryWindow: 5), options: options)
            do {
                try await worker.run()
                Issue.record("the worker finished despite the device error")
            } catch let error as WorkerError {
                #expect(error.releasesUnit)
                #expect(error.description.contains("illegal memory access"), "\(error)")
            }
            #expect(device.failed)
            let tasks = try await coordinator.tasks(job: submitted.job)
            var units: [UnitRecord] = []
            for task in tasks { units += try await coordinator.units(task: task.id) }
            #expect(!units.isEmpty)
            #expect(units.allSatisfy { $0.state == .pending && $0.leaseOwner == nil }, "\(units.map { "\($0.id) \($0.state) \($0.lastError ?? "")" })")
            #expect(units.allSatisfy { $0.lastError == nil })
        }
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
        return dot / (na.squareRoot() * nb.squareRoot())
    }
}

/// `HostDevice` that fails its n-th product with a sticky CUDA error, as a GPU does after an
/// illegal memory access.
final class FailingDevice: DeviceLayer, @unchecked Sendable {
    let host = HostDevice()
    let failOnGemm: Int
    private(set) var gemms = 0
    private(set) var failed = false

    init(failOnGemm: Int) { self.failOnGemm = failOnGemm }

    var lowPrecision: LowPrecision { host.lowPrecision }
    func memoryInfo() -> (free: Int, total: Int)? { host.memoryInfo() }
    func allocate(bytes: Int, what: String) throws(GPUError) -> DeviceBuffer { try host.allocate(bytes: bytes, what: what) }
    func free(_ buffer: DeviceBuffer) { host.free(buffer) }
    func allocateHost(bytes: Int) throws(GPUError) -> HostBuffer { try host.allocateHost(bytes: bytes) }
    func upload(_ source: UnsafeRawPointer, bytes: Int, to buffer: DeviceBuffer, offset: Int) throws(GPUError) {
        try host.upload(source, bytes: bytes, to: buffer, offset: offset)
    }
    func download(_ buffer: DeviceBuffer, offset: Int, bytes: Int, to destination: UnsafeMutableRawPointer) throws(GPUError) {
        try host.download(buffer, offset: offset, bytes: bytes, to: destination)
    }
    func launch(_ kernel: KernelCall) throws(GPUError) { try host.launch(kernel) }
    func gemm(_ product: GemmCall) throws(GPUError) {
        gemms += 1
        if gemms >= failOnGemm {
            failed = true
            throw .driver(call: "cuLaunchKernel", code: 700, message: "an illegal memory access was encountered")
        }
        try host.gemm(product)
    }
    func record() throws(GPUError) -> DeviceEvent { try host.record() }
    func wait(_ event: DeviceEvent) throws(GPUError) { try host.wait(event) }
    func synchronize() throws(GPUError) { try host.synchronize() }
}

/// `embed-images`' GPU path (`GPUImageEmbedding`) on the device double: the same rows as the CPU
/// fp32 command within cosine 0.999, in bf16 and fp16, and `--skip-bad` rows zero as on the CPU.
@Suite("embed-images on the device double", .serialized)
struct GPUEmbedImagesTests {
    @Test(arguments: [LowPrecision.bf16, .fp16])
    func matchesTheCPUCommand(_ low: LowPrecision) throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try Data("<html></html>".utf8).write(to: URL(fileURLWithPath: s.path("page.jpg")))
        let paths = GPUWorkerEmbedderTests.images.map { TextCommandsTests.fixtures.appendingPathComponent("images/\($0)").path } + [s.path("page.jpg")]
        try (paths.joined(separator: "\n") + "\n").write(toFile: s.path("list.txt"), atomically: true, encoding: .utf8)
        let cpu = try CLI.run(["embed-images", "--model", model, "--images", s.path("list.txt"), "--out", s.path("cpu.npy"), "--skip-bad"])
        #expect(cpu.status == 0, "\(cpu.stderr)")
        let command = try EmbedImagesCommand.parse(["--model", model, "--images", s.path("list.txt"), "--out", s.path("gpu.npy"),
                                                    "--skip-bad", "--batch-size", "2"])
        let items = try EmbedImagesCommand.readList(s.path("list.txt"))
        try GPUImageEmbedding(command: command, items: items, device: HostDevice(lowPrecision: low), output: try command.outputTarget(items)).run()
        let (rows, cols, a) = try NPYFile.readMatrix(s.path("cpu.npy"))
        let (rows2, cols2, b) = try NPYFile.readMatrix(s.path("gpu.npy"))
        #expect(rows == paths.count && rows2 == rows && cols2 == cols)
        for r in 0..<rows - 1 {
            let x = Array(a[r * cols ..< (r + 1) * cols]), y = Array(b[r * cols ..< (r + 1) * cols])
            var dot = 0.0, nx = 0.0, ny = 0.0
            for (p, q) in zip(x, y) { dot += Double(p) * Double(q); nx += Double(p) * Double(p); ny += Double(q) * Double(q) }
            #expect(dot / (nx.squareRoot() * ny.squareRoot()) >= 0.999, "\(low) row \(r)")
        }
        #expect(b[(rows - 1) * cols ..< rows * cols].allSatisfy { $0 == 0 }, "the unreadable image's row is zero")
    }
}
