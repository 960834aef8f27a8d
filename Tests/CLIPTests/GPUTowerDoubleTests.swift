import CLIP
import CUDABackend
import Foundation
import Testing

/// The GPU vision tower run on `HostDevice` (the CPU double of the device layer) against the
/// CPU fp32 tower: the same kernel sequence, products and data movement a GPU would run, so a
/// layout, stride or ordering mistake in the orchestration shows up here without a GPU.
@Suite struct GPUTowerDoubleTests {
    static let images = ["drawing.png", "drawing_odd.png", "drawing_grey.png", "drawing_rgba.png", "drawing_palette.png"]

    func decoded() throws -> [RGBImage] {
        try Self.images.map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
    }

    func check(model name: String, low: LowPrecision, batchSize: Int?, capacity: Int? = nil,
               failGemmsAtOrAbove: Int? = nil) throws -> (GPUVisionTower, HostDevice, [String], Int) {
        let dir = try Fixtures.modelDirectory(name)
        let cpu = try CLIPModel(directory: dir, towers: .vision, precision: .fp32)
        let vision = try #require(cpu.vision)
        let pre = cpu.preprocessor()
        let images = try decoded()
        let reference = try cpu.embedImages(images)
        let device = HostDevice(lowPrecision: low)
        let tower = try GPUVisionTower(device: device, vision: vision, preprocessor: pre, batchSize: batchSize)
        let weights = device.allocated
        if let capacity { device.capacity = weights + capacity }
        device.failGemmsAtOrAbove = failGemmsAtOrAbove
        var log: [String] = []
        tower.log = { log.append($0) }
        let per = tower.pixelsPerImage
        var overlapped = 0
        let features = try tower.embed(count: images.count) { range, bytes in
            // Decoding batch i+1 while batch i is still queued on the stream: double buffering.
            if range.lowerBound > 0, device.pendingCount > 0 { overlapped += 1 }
            for (k, i) in range.enumerated() {
                pre.processBytes(images[i], into: UnsafeMutableBufferPointer(start: bytes + k * per, count: per))
            }
        }
        let dim = cpu.config.projectionDim
        for r in 0..<images.count {
            let gpuRow = Array(features[r * dim ..< (r + 1) * dim])
            let cos = cosine(gpuRow, reference.row(r))
            #expect(cos >= 0.999, "\(name) \(low) image \(Self.images[r]): cosine \(cos)")
        }
        if tower.batch.size < images.count { #expect(overlapped > 0, "no batch was decoded while another was in flight") }
        return (tower, device, log, weights)
    }

    @Test(arguments: Fixtures.modelNames)
    func bf16MatchesCPUfp32(_ name: String) throws {
        _ = try check(model: name, low: .bf16, batchSize: 2)
    }

    @Test func fp16MatchesCPUfp32() throws {
        _ = try check(model: "tiny-p16-gelu-fp16", low: .fp16, batchSize: 3)
    }

    @Test func outOfMemoryAtAllocationHalvesTheBatch() throws {
        // Measure batch 4's working memory, then allow a little over half of it.
        let (_, probe, _, weights) = try check(model: "tiny-p32-quickgelu-fp32", low: .bf16, batchSize: 4)
        let workspace = probe.peakAllocated - weights
        #expect(workspace > 0)
        let (tower, device, log, _) = try check(model: "tiny-p32-quickgelu-fp32", low: .bf16, batchSize: 4, capacity: workspace * 6 / 10)
        #expect(tower.batch.size < 4)
        #expect(!log.isEmpty && log[0].contains("out of GPU memory at batch 4"))
        #expect(device.peakAllocated <= device.capacity)
    }

    @Test func outOfMemoryInAProductRetriesSmaller() throws {
        // The widest product is attention's, tokens·heads rows per image: fail at 2 images' worth,
        // so batch 4 → 2 → 1.
        let config = try CLIPConfig.load(path: try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32") + "/config.json").vision
        let perImage = (config.numPatches + 1) * config.numAttentionHeads
        let (tower, _, log, _) = try check(model: "tiny-p32-quickgelu-fp32", low: .bf16, batchSize: 4, failGemmsAtOrAbove: 2 * perImage)
        #expect(tower.batch.size == 1)
        #expect(log.count == 2)
    }

    @Test func nothingFitsIsModelTooLarge() throws {
        let dir = try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")
        let cpu = try CLIPModel(directory: dir, towers: .vision, precision: .fp32)
        let vision = try #require(cpu.vision)
        let device = HostDevice(capacity: 1000)
        #expect(throws: GPUError.self) { _ = try GPUVisionTower(device: device, vision: vision, preprocessor: cpu.preprocessor(), batchSize: 1) }
        do {
            _ = try GPUVisionTower(device: device, vision: vision, preprocessor: cpu.preprocessor(), batchSize: 1)
        } catch {
            guard case .modelTooLarge = error as? GPUError else { Issue.record("expected modelTooLarge, got \(error)"); return }
        }
        #expect(device.allocated == 0, "a failed load frees what it allocated")
    }

    @Test func bytesNormaliseToTheFloatPixels() throws {
        let pre = ImagePreprocessor(resize: 40, crop: 32)
        for image in try decoded() {
            let floats = pre(image)
            var bytes = [UInt8](repeating: 7, count: pre.outputCount)
            bytes.withUnsafeMutableBufferPointer { pre.processBytes(image, into: $0) }
            let mean = [pre.mean.0, pre.mean.1, pre.mean.2], std = [pre.std.0, pre.std.1, pre.std.2]
            let plane = 32 * 32
            for i in 0..<pre.outputCount {
                let c = i / plane
                #expect(floats[i] == (Float(bytes[i]) / 255 - mean[c]) / std[c])
            }
        }
    }
}
