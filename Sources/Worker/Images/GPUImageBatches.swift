import CLIP
import CUDABackend
import Dispatch
import Foundation

/// Feeds `GPUVisionTower` from image decoders: each batch is decoded and preprocessed to uint8
/// crops on every core, into the tower's pinned slot, while the device runs the previous batch.
/// Shared by `embed-images` and the worker's `GPUImageEmbedder`, so both decode the same way.
public enum GPUImageBatches {
    /// Embeds `count` images, `decode(i)` giving image i. An image that does not decode gets a
    /// zero crop (its row is meaningless) and its message in `failures`; a device error throws.
    public static func embed(tower: GPUVisionTower, preprocessor: ImagePreprocessor, count: Int,
                             decode: @escaping @Sendable (Int) throws -> RGBImage) throws(GPUError) -> (features: [Float], failures: [Int: String]) {
        let failures = Failures()
        let per = tower.pixelsPerImage
        guard preprocessor.outputCount == per else {
            throw .invalidInput("the preprocessor's crop (\(preprocessor.outputCount) values) does not match the tower's \(per)")
        }
        let features = try tower.embed(count: count) { range, bytes in
            // Addresses travel as integers: each image writes only its own slice.
            let base = UInt(bitPattern: bytes)
            DispatchQueue.concurrentPerform(iterations: range.count) { k in
                guard let start = UnsafeMutablePointer<UInt8>(bitPattern: base) else { return }
                let slot = UnsafeMutableBufferPointer(start: start + k * per, count: per)
                let i = range.lowerBound + k
                do {
                    preprocessor.processBytes(try decode(i), into: slot)
                } catch {
                    slot.update(repeating: 0)
                    failures.set(i, "\(error)")
                }
            }
        }
        return (features, failures.all)
    }

    private final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [Int: String] = [:]
        func set(_ i: Int, _ message: String) { lock.withLock { messages[i] = message } }
        var all: [Int: String] { lock.withLock { messages } }
    }
}
