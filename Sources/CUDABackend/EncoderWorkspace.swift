/// The activations of one forward pass of `batch` sequences of `seq` tokens, allocated once per
/// batch size (an allocation that does not fit is the out-of-memory a smaller batch retries).
final class EncoderWorkspace {
    let device: any DeviceLayer
    let batch: Int, seq: Int, hidden: Int, heads: Int, intermediate: Int, projection: Int
    private(set) var buffers: [DeviceBuffer] = []
    let x: DeviceBuffer, normed: DeviceBuffer, wide: DeviceBuffer, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer
    let scores: DeviceBuffer, probs: DeviceBuffer, o: DeviceBuffer, attended: DeviceBuffer, act: DeviceBuffer
    let pooled: DeviceBuffer, pooledNorm: DeviceBuffer, features: DeviceBuffer, indices: DeviceBuffer

    /// Bytes for `batch` sequences (the batch-size planner divides free memory by this).
    static func bytes(batch: Int, seq: Int, hidden d: Int, heads: Int, intermediate: Int, projection: Int) -> Int {
        let rows = batch * seq
        let wide = max(3 * d, intermediate)
        return rows * d * 4 + rows * d * 2 + rows * wide * 4 + 3 * rows * d * 2
            + batch * heads * seq * seq * 6 + rows * d * 4 + rows * d * 2 + rows * intermediate * 2
            + batch * (2 * d + projection) * 4 + batch * 4
    }

    init(device: any DeviceLayer, batch: Int, seq: Int, hidden d: Int, heads: Int, intermediate: Int, projection: Int) throws(GPUError) {
        self.device = device
        self.batch = batch; self.seq = seq; self.hidden = d; self.heads = heads
        self.intermediate = intermediate; self.projection = projection
        let rows = batch * seq
        var made: [DeviceBuffer] = []
        func take(_ bytes: Int, _ what: String) throws(GPUError) -> DeviceBuffer {
            let b = try device.allocate(bytes: bytes, what: "\(what) (batch \(batch))")
            made.append(b)
            return b
        }
        do {
            x = try take(rows * d * 4, "residual stream")
            normed = try take(rows * d * 2, "normed")
            wide = try take(rows * max(3 * d, intermediate) * 4, "projections")
            q = try take(rows * d * 2, "queries")
            k = try take(rows * d * 2, "keys")
            v = try take(rows * d * 2, "values")
            scores = try take(batch * heads * seq * seq * 4, "attention scores")
            probs = try take(batch * heads * seq * seq * 2, "attention probabilities")
            o = try take(rows * d * 4, "attention output")
            attended = try take(rows * d * 2, "merged heads")
            act = try take(rows * intermediate * 2, "MLP activations")
            pooled = try take(batch * d * 4, "pooled")
            pooledNorm = try take(batch * d * 4, "pooled norm")
            features = try take(batch * projection * 4, "features")
            indices = try take(batch * 4, "pooled indices")
        } catch {
            made.forEach(device.free)
            throw error
        }
        buffers = made
    }

    func release() {
        buffers.forEach(device.free)
        buffers.removeAll()
    }
}
