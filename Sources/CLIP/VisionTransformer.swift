import COpenBLAS
import Platform
import Tensor

/// CLIP's image tower (`CLIPVisionTransformer` + `visual_projection`): patch embedding as one
/// GEMM per image, class token and positional embedding, pre-layer-norm, the encoder, the
/// post-layer-norm of the class token, the projection and L2 normalisation.
public struct VisionTransformer: Sendable {
    public let config: CLIPVisionConfig
    public let projectionDim: Int
    let patchWeight: WeightMatrix     // hidden × (3·P·P), the conv kernel flattened (c, ky, kx)
    let classEmbedding: [Float]       // hidden
    let positionEmbedding: [Float]    // (patches + 1) × hidden
    let preNorm: LayerNormWeights
    let postNorm: LayerNormWeights
    let encoder: EncoderWeights
    let projection: [Float]           // projectionDim × hidden

    // MARK: Loading

    init(config: CLIPVisionConfig, projectionDim: Int, activation: Activation, reader: CheckpointReader) throws(CheckpointError) {
        self.config = config
        self.projectionDim = projectionDim
        let d = config.hiddenSize, p = config.patchSize
        patchWeight = try reader.weightMatrix(CheckpointNames.patchEmbedding, rows: d, cols: config.numChannels * p * p,
                                              shape: [d, config.numChannels, p, p])
        classEmbedding = try reader.tensor(CheckpointNames.classEmbedding, [d])
        positionEmbedding = try reader.tensor(CheckpointNames.visionPositionEmbedding, [config.numPatches + 1, d])
        preNorm = try reader.layerNorm(CheckpointNames.preLayerNorm, width: d, eps: config.layerNormEps)
        postNorm = try reader.layerNorm(CheckpointNames.postLayerNorm, width: d, eps: config.layerNormEps)
        encoder = try reader.encoder(.vision, layers: config.numHiddenLayers, hidden: d, intermediate: config.intermediateSize,
                                     heads: config.numAttentionHeads, eps: config.layerNormEps, activation: activation)
        projection = try reader.tensor(CheckpointNames.visualProjection, [projectionDim, d])
    }

    /// Values per preprocessed image: `3 × image_size × image_size`, channel-major.
    public var pixelsPerImage: Int { config.numChannels * config.imageSize * config.imageSize }

    // MARK: Forward

    /// Embeds `batch` images given as normalised CHW pixels (`batch × pixelsPerImage` values).
    /// Returns `batch × projectionDim` L2-normalised features, row-major.
    public func embed(pixels: [Float], batch: Int) throws(CLIPModelError) -> [Float] {
        guard batch > 0 else { return [] }
        guard pixels.count == batch * pixelsPerImage else {
            throw .wrongPixelShape(expected: pixelsPerImage, found: pixels.count / batch)
        }
        let d = config.hiddenSize
        let tokens = config.numPatches + 1
        var x = [Float](repeating: 0, count: batch * tokens * d)
        embedPatches(pixels: pixels, batch: batch, into: &x)
        TransformerEncoder.layerNormInPlace(&x, rows: batch * tokens, cols: d, preNorm)
        let pooled = TransformerEncoder.run(encoder, x: &x, batch: batch, seq: tokens, causal: false,
                                            pooled: [Int](repeating: 0, count: batch))
        return project(pooled, batch: batch, norm: postNorm, hidden: d, projection: projection, projectionDim: projectionDim)
    }

    /// `x[b, 0] = class + pos[0]`, `x[b, 1 + n] = patch_n · Wᵀ + pos[1 + n]`.
    func embedPatches(pixels: [Float], batch: Int, into x: inout [Float]) {
        let d = config.hiddenSize, p = config.patchSize, s = config.imageSize, g = config.gridSize
        let n = config.numPatches, c = config.numChannels
        let k = c * p * p
        var patches = [Float](repeating: 0, count: batch * n * k)
        pixels.withUnsafeBufferPointer { px in
            patches.withUnsafeMutableBufferPointer { pt in
                guard let src = px.baseAddress, let dst = pt.baseAddress else { return }
                let sa = UInt(bitPattern: src), da = UInt(bitPattern: dst)
                // im2col: row (b, gy, gx) holds the patch in (channel, ky, kx) order, like the conv kernel.
                NeuralKernels.parallelFor(batch * g, grain: 1) { range in
                    guard let src = UnsafePointer<Float>(bitPattern: sa), let dst = UnsafeMutablePointer<Float>(bitPattern: da) else { return }
                    for bgy in range {
                        let b = bgy / g, gy = bgy % g
                        for gx in 0..<g {
                            let row = dst + ((b * n) + gy * g + gx) * k
                            for ch in 0..<c {
                                for ky in 0..<p {
                                    let from = src + b * c * s * s + ch * s * s + (gy * p + ky) * s + gx * p
                                    (row + ch * p * p + ky * p).update(from: from, count: p)
                                }
                            }
                        }
                    }
                }
            }
        }
        patches.withUnsafeBufferPointer { pt in
            x.withUnsafeMutableBufferPointer { xp in
                guard let P = pt.baseAddress, let X = xp.baseAddress else { return }
                // One GEMM for the whole batch into a scratch, then place rows after each class token.
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: batch * n * d)
                defer { scratch.deallocate() }
                WeightProducts.multiply(P, lda: k, rows: batch * n, patchWeight, into: scratch, ldc: d)
                for b in 0..<batch {
                    (X + (b * (n + 1) + 1) * d).update(from: scratch + b * n * d, count: n * d)
                }
            }
        }
        positionEmbedding.withUnsafeBufferPointer { pos in
            classEmbedding.withUnsafeBufferPointer { cls in
                x.withUnsafeMutableBufferPointer { xp in
                    guard let P = pos.baseAddress, let C = cls.baseAddress, let X = xp.baseAddress else { return }
                    for b in 0..<batch {
                        let img = X + b * (n + 1) * d
                        img.update(from: C, count: d)
                        for i in 0..<((n + 1) * d) { img[i] += P[i] }
                    }
                }
            }
        }
    }
}

// MARK: - Shared head

/// `normalize(LN(pooled) · projectionᵀ)`, row by row.
func project(_ pooled: [Float], batch: Int, norm: LayerNormWeights, hidden d: Int, projection: [Float], projectionDim: Int) -> [Float] {
    var normed = [Float](repeating: 0, count: batch * d)
    TransformerEncoder.layerNormRows(pooled, rows: batch, cols: d, norm, into: &normed)
    var out = Matrix(rows: batch, cols: projectionDim)
    BLAS.gemm(Matrix(rows: batch, cols: d, storage: normed), Matrix(rows: projectionDim, cols: d, storage: projection),
              transposeB: true, into: &out)
    out.normalizeRows()
    return out.storage
}

extension TransformerEncoder {
    /// Layer norm in place over `[Float]` storage.
    static func layerNormInPlace(_ x: inout [Float], rows: Int, cols: Int, _ w: LayerNormWeights) {
        x.withUnsafeMutableBufferPointer { xp in
            guard let X = xp.baseAddress else { return }
            layerNormRows(X, rows: rows, cols: cols, w, out: X)
        }
    }

    /// Layer norm from `x` into `out` (resized to fit).
    static func layerNormRows(_ x: [Float], rows: Int, cols: Int, _ w: LayerNormWeights, into out: inout [Float]) {
        if out.count < rows * cols { out = [Float](repeating: 0, count: rows * cols) }
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                guard let X = xp.baseAddress, let O = op.baseAddress else { return }
                layerNormRows(X, rows: rows, cols: cols, w, out: O)
            }
        }
    }
}
