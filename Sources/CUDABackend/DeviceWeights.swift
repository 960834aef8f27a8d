import CLIP
import Tensor

/// Weights resident on the device: product weights in the low precision, everything added or
/// scaled (biases, norms, embeddings) and the final projection in fp32, as the CPU keeps them.
struct DeviceLinear {
    var weight: DeviceBuffer
    var bias: DeviceBuffer
    var outFeatures: Int
    var inFeatures: Int
}

struct DeviceLayerNorm {
    var gamma: DeviceBuffer
    var beta: DeviceBuffer
    var eps: Float
}

struct DeviceEncoderLayer {
    var norm1: DeviceLayerNorm, qkv: DeviceLinear, out: DeviceLinear, norm2: DeviceLayerNorm, fc1: DeviceLinear, fc2: DeviceLinear
}

struct DeviceEncoder {
    var layers: [DeviceEncoderLayer]
    var hidden: Int
    var heads: Int
    var intermediate: Int
    var activation: Activation
}

/// Uploads and remembers every buffer, so a failed load frees what it allocated.
final class WeightUploader {
    let device: any DeviceLayer
    private(set) var buffers: [DeviceBuffer] = []
    private var staging: [HostBuffer] = []

    init(device: any DeviceLayer) { self.device = device }

    func floats(_ values: [Float], _ what: String) throws(GPUError) -> DeviceBuffer {
        let b = try device.allocate(bytes: values.count * 4, what: what)
        buffers.append(b)
        let host = try device.allocateHost(bytes: values.count * 4)
        staging.append(host)
        values.withUnsafeBytes { host.pointer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(host.pointer), byteCount: $0.count) }
        try device.upload(host.pointer, bytes: values.count * 4, to: b, offset: 0)
        return b
    }

    /// The matrix in the device's low precision: bf16 bits as stored when the model was loaded
    /// in bf16, else rounded here from fp32.
    func matrix(_ w: WeightMatrix, _ what: String) throws(GPUError) -> DeviceBuffer {
        let count = w.rows * w.cols
        let b = try device.allocate(bytes: count * 2, what: what)
        buffers.append(b)
        let host = try device.allocateHost(bytes: count * 2)
        staging.append(host)
        let dst = host.pointer.assumingMemoryBound(to: UInt16.self)
        switch (w.storage, device.lowPrecision) {
        case let (.bf16(bits), .bf16):
            bits.withUnsafeBufferPointer { if let s = $0.baseAddress { dst.update(from: s, count: count) } }
        case let (.mapped(m), .bf16) where m.precision == .bf16:
            withExtendedLifetime(m.owner) { dst.update(from: m.base.assumingMemoryBound(to: UInt16.self), count: count) }
        default:
            let values = w.floatValues
            for i in 0..<count { dst[i] = LowBits.fromFloat(values[i], device.lowPrecision) }
        }
        try device.upload(host.pointer, bytes: count * 2, to: b, offset: 0)
        return b
    }

    func linear(_ l: ExportedLinear, _ what: String) throws(GPUError) -> DeviceLinear {
        DeviceLinear(weight: try matrix(l.weight, what + ".weight"), bias: try floats(l.bias, what + ".bias"),
                     outFeatures: l.weight.rows, inFeatures: l.weight.cols)
    }

    func norm(_ n: ExportedLayerNorm, _ what: String) throws(GPUError) -> DeviceLayerNorm {
        DeviceLayerNorm(gamma: try floats(n.gamma, what + ".gamma"), beta: try floats(n.beta, what + ".beta"), eps: n.eps)
    }

    func encoder(_ e: ExportedEncoder, _ what: String) throws(GPUError) -> DeviceEncoder {
        var layers: [DeviceEncoderLayer] = []
        for (i, l) in e.layers.enumerated() {
            let p = "\(what).layers.\(i)"
            layers.append(DeviceEncoderLayer(norm1: try norm(l.norm1, p + ".norm1"), qkv: try linear(l.qkv, p + ".qkv"),
                                             out: try linear(l.out, p + ".out"), norm2: try norm(l.norm2, p + ".norm2"),
                                             fc1: try linear(l.fc1, p + ".fc1"), fc2: try linear(l.fc2, p + ".fc2")))
        }
        return DeviceEncoder(layers: layers, hidden: e.hidden, heads: e.heads,
                             intermediate: e.layers.first?.fc1.weight.rows ?? 0, activation: e.activation)
    }

    /// Waits for the uploads, then drops the staging buffers.
    func finish() throws(GPUError) {
        try device.synchronize()
        staging.removeAll()
    }

    /// Frees everything (a load that failed half-way).
    func releaseAll() {
        try? device.synchronize()
        staging.removeAll()
        buffers.forEach(device.free)
        buffers.removeAll()
    }

    /// A model too big for the GPU gets `modelTooLarge` with the size it needs.
    static func load<T>(_ device: any DeviceLayer, bytes needed: Int, _ body: (WeightUploader) throws(GPUError) -> T) throws(GPUError) -> (T, [DeviceBuffer]) {
        let uploader = WeightUploader(device: device)
        do {
            let value = try body(uploader)
            try uploader.finish()
            return (value, uploader.buffers)
        } catch {
            uploader.releaseAll()
            if error.isOutOfMemory { throw .modelTooLarge(needed: needed, free: device.memoryInfo()?.free) }
            throw error
        }
    }
}

extension ExportedEncoder {
    /// Device bytes of the encoder's weights (16-bit products, fp32 biases and norms).
    var deviceBytes: Int {
        layers.reduce(0) { sum, l in
            let products = [l.qkv, l.out, l.fc1, l.fc2].reduce(0) { $0 + $1.weight.rows * ($1.weight.cols * 2 + 4) }
            return sum + products + 4 * 4 * hidden
        }
    }
}
