import CLIP
import Foundation

/// CLIP's image tower on a device. Pixels arrive as uint8 (the preprocessed crop before
/// normalisation) in pinned host buffers, two of them: while the device runs batch i, the
/// caller's `fill` decodes and preprocesses batch i+1 into the other, so decoding overlaps the
/// GPU. One stream carries upload, forward and download in order; the upload is a quarter of
/// fp32's bytes. Out of memory, the batch size halves and the batches not yet delivered are
/// run again.
public final class GPUVisionTower {
    public let device: any DeviceLayer
    public let config: CLIPVisionConfig
    public let projectionDim: Int
    public private(set) var batch: BatchSizer
    public var log: (String) -> Void = { _ in }
    /// Host seconds spent in `fill` and waiting for the device, over the last `embed`.
    public private(set) var fillSeconds = 0.0, waitSeconds = 0.0

    let encoder: DeviceEncoder
    let patch: DeviceBuffer, cls: DeviceBuffer, pos: DeviceBuffer, projection: DeviceBuffer
    let preNorm: DeviceLayerNorm, postNorm: DeviceLayerNorm
    let weightBuffers: [DeviceBuffer]
    let mean: [Float], std: [Float]
    var workspace: VisionWorkspace?

    public var pixelsPerImage: Int { 3 * config.imageSize * config.imageSize }
    var tokens: Int { config.numPatches + 1 }

    /// Uploads the tower's weights; `batchSize` nil fits the batch to the free memory.
    public init(device: any DeviceLayer, vision: VisionTransformer, preprocessor: ImagePreprocessor, batchSize: Int?) throws(GPUError) {
        self.device = device
        config = vision.config
        projectionDim = vision.projectionDim
        mean = [preprocessor.mean.0, preprocessor.mean.1, preprocessor.mean.2]
        std = [preprocessor.std.0, preprocessor.std.1, preprocessor.std.2]
        let w = vision.exportedWeights
        let needed = w.encoder.deviceBytes + w.patch.rows * w.patch.cols * 2 + (w.positionEmbedding.count + w.projection.count) * 4
        let (loaded, buffers) = try WeightUploader.load(device, bytes: needed) { (u) throws(GPUError) in
            (try u.encoder(w.encoder, "vision"), try u.matrix(w.patch, "patch embedding"), try u.floats(w.classEmbedding, "class embedding"),
             try u.floats(w.positionEmbedding, "position embedding"), try u.floats(w.projection, "visual projection"),
             try u.norm(w.preNorm, "pre norm"), try u.norm(w.postNorm, "post norm"))
        }
        (encoder, patch, cls, pos, projection, preNorm, postNorm) = loaded
        weightBuffers = buffers
        let perImage = EncoderWorkspace.bytes(batch: 1, seq: config.numPatches + 1, hidden: config.hiddenSize, heads: config.numAttentionHeads,
                                              intermediate: config.intermediateSize, projection: projectionDim)
            + 3 * config.imageSize * config.imageSize + config.numPatches * 3 * config.patchSize * config.patchSize * 6
        batch = BatchSizer(requested: batchSize, perItemBytes: perImage, freeBytes: device.memoryInfo()?.free)
    }

    deinit {
        workspace?.release()
        weightBuffers.forEach(device.free)
    }

    /// Embeds `count` images: `fill(range, bytes)` writes images `range` as uint8 CHW crops,
    /// one after another. Returns `count × projectionDim` L2-normalised features.
    public func embed(count: Int, fill: (Range<Int>, UnsafeMutablePointer<UInt8>) -> Void) throws(GPUError) -> [Float] {
        var out = [Float](repeating: 0, count: count * projectionDim)
        var done = 0
        fillSeconds = 0
        waitSeconds = 0
        while done < count {
            do {
                try pipeline(from: &done, count: count, fill: fill, out: &out)
            } catch where error.isOutOfMemory {
                try? device.synchronize()
                workspace?.release()
                workspace = nil
                let before = batch.size
                guard batch.shrink() else { throw .modelTooLarge(needed: 0, free: device.memoryInfo()?.free) }
                log("out of GPU memory at batch \(before) (\(error)); retrying from image \(done) with batch \(batch.size)")
            }
        }
        return out
    }

    private func pipeline(from done: inout Int, count: Int, fill: (Range<Int>, UnsafeMutablePointer<UInt8>) -> Void,
                          out: inout [Float]) throws(GPUError) {
        if workspace == nil || workspace?.batch != batch.size { workspace?.release(); workspace = try VisionWorkspace(self, batch: batch.size) }
        guard let ws = workspace else { return }
        let clock = ContinuousClock()
        var inFlight: [(slot: Int, range: Range<Int>, event: DeviceEvent)] = []
        var next = done
        var slot = 0
        func complete(_ entry: (slot: Int, range: Range<Int>, event: DeviceEvent)) throws(GPUError) {
            let start = clock.now
            try device.wait(entry.event)
            waitSeconds += (clock.now - start).seconds
            let src = ws.hostOut[entry.slot].pointer.assumingMemoryBound(to: Float.self)
            out.withUnsafeMutableBufferPointer { o in
                guard let base = o.baseAddress else { return }
                (base + entry.range.lowerBound * projectionDim).update(from: src, count: entry.range.count * projectionDim)
            }
            done = entry.range.upperBound
        }
        while next < count || !inFlight.isEmpty {
            guard next < count else { try complete(inFlight.removeFirst()); continue }
            if let i = inFlight.firstIndex(where: { $0.slot == slot }) { try complete(inFlight.remove(at: i)) }
            let range = next ..< min(count, next + batch.size)
            let start = clock.now
            fill(range, ws.hostIn[slot].pointer.assumingMemoryBound(to: UInt8.self))
            fillSeconds += (clock.now - start).seconds
            try device.upload(ws.hostIn[slot].pointer, bytes: range.count * pixelsPerImage, to: ws.pixels, offset: 0)
            try forward(ws, batch: range.count)
            try device.download(ws.encoder.features, offset: 0, bytes: range.count * projectionDim * 4, to: ws.hostOut[slot].pointer)
            inFlight.append((slot, range, try device.record()))
            next = range.upperBound
            slot ^= 1
        }
    }

    func forward(_ ws: VisionWorkspace, batch b: Int) throws(GPUError) {
        let d = config.hiddenSize, n = config.numPatches, k = 3 * config.patchSize * config.patchSize
        try device.launch(.pixelsToPatches(pixels: ws.pixels, patches: ws.patches, batch: b, size: config.imageSize, patch: config.patchSize, mean: mean, std: std))
        try device.gemm(GemmCall(m: b * n, n: d, k: k, a: GemmOperand(ws.patches, ld: k, type: .low),
                                 b: GemmOperand(patch, ld: k, type: .low), transB: true, c: GemmOperand(ws.patchOut, ld: d, type: .f32)))
        let e = ws.encoder
        try device.launch(.assembleTokens(patchOut: ws.patchOut, cls: cls, pos: pos, x: e.x, batch: b, tokens: tokens, hidden: d))
        try device.launch(.layerNorm(x: e.x, gamma: preNorm.gamma, beta: preNorm.beta, outF: e.x, outLow: nil, rows: b * tokens, cols: d, eps: preNorm.eps))
        try GPUEncoder.layers(device, encoder, e, batch: b, seq: tokens, causal: false)
        try GPUEncoder.head(device, e, batch: b, hidden: d, norm: postNorm, projection: projection, projectionDim: projectionDim)
    }
}

/// The vision tower's buffers for one batch size: the encoder's, the patches, and two pinned
/// host slots each way. The class-token indices are uploaded once.
final class VisionWorkspace {
    let batch: Int
    let encoder: EncoderWorkspace
    let pixels: DeviceBuffer, patches: DeviceBuffer, patchOut: DeviceBuffer
    let hostIn: [HostBuffer], hostOut: [HostBuffer]
    let device: any DeviceLayer

    init(_ tower: GPUVisionTower, batch: Int) throws(GPUError) {
        let c = tower.config, device = tower.device
        self.batch = batch
        self.device = device
        let n = c.numPatches, k = 3 * c.patchSize * c.patchSize
        encoder = try EncoderWorkspace(device: device, batch: batch, seq: tower.tokens, hidden: c.hiddenSize, heads: c.numAttentionHeads,
                                       intermediate: c.intermediateSize, projection: tower.projectionDim)
        var extra: [DeviceBuffer] = []
        do {
            pixels = try device.allocate(bytes: batch * tower.pixelsPerImage, what: "pixels (batch \(batch))"); extra.append(pixels)
            patches = try device.allocate(bytes: batch * n * k * 2, what: "patches (batch \(batch))"); extra.append(patches)
            patchOut = try device.allocate(bytes: batch * n * c.hiddenSize * 4, what: "patch embeddings (batch \(batch))"); extra.append(patchOut)
            hostIn = [try device.allocateHost(bytes: batch * tower.pixelsPerImage), try device.allocateHost(bytes: batch * tower.pixelsPerImage)]
            hostOut = [try device.allocateHost(bytes: batch * tower.projectionDim * 4), try device.allocateHost(bytes: batch * tower.projectionDim * 4)]
            // The class-token rows, staged through the first input slot (free until the first batch).
            let staged = hostIn[0].pointer.assumingMemoryBound(to: Int32.self)
            for i in 0..<batch { staged[i] = Int32(i * tower.tokens) }
            try device.upload(hostIn[0].pointer, bytes: batch * 4, to: encoder.indices, offset: 0)
            try device.synchronize()
        } catch {
            extra.forEach(device.free)
            encoder.release()
            throw error
        }
        extraBuffers = extra
    }

    private var extraBuffers: [DeviceBuffer] = []

    func release() {
        extraBuffers.forEach(device.free)
        extraBuffers.removeAll()
        encoder.release()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
