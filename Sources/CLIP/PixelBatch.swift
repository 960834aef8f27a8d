import Dispatch
import Foundation
import Tensor

/// One batch of images decoded and preprocessed on every core, ready for the vision tower;
/// images that could not be read are recorded per index instead.
///
/// The buffer is allocated once and never resized, so the threads writing disjoint slices of
/// it do not race.
public final class PixelBatch: @unchecked Sendable {
    public let count: Int
    public let perImage: Int
    private let storage: UnsafeMutableBufferPointer<Float>
    private var failed: [Int: String] = [:]
    private let lock = NSLock()

    /// Loads `count` images: `image(i)` reads and decodes image i (throwing why it cannot),
    /// which the preprocessor then writes into slot i.
    public init(count: Int, preprocessor: ImagePreprocessor, threads: Int = NeuralKernels.activeProcessorCount,
                image: @Sendable (Int) throws -> RGBImage) {
        self.count = count
        perImage = preprocessor.outputCount
        storage = .allocate(capacity: count * perImage)
        storage.initialize(repeating: 0)
        let workers = max(1, min(threads, count))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: count, by: workers) {
                do {
                    let decoded = try image(i)
                    preprocessor.process(decoded, into: UnsafeMutableBufferPointer(rebasing: storage[i * perImage ..< (i + 1) * perImage]))
                } catch {
                    lock.lock()
                    failed[i] = "\(error)"
                    lock.unlock()
                }
            }
        }
    }

    deinit { storage.deallocate() }

    /// Why image i could not be loaded, by index.
    public var failures: [Int: String] {
        lock.lock()
        defer { lock.unlock() }
        return failed
    }

    /// Indices of the images that loaded, in order.
    public var loaded: [Int] {
        let failures = self.failures
        return (0..<count).filter { failures[$0] == nil }
    }

    /// The pixels of `indices`, concatenated (the input of `CLIPModel.embedPixels`).
    public func pixels(of indices: [Int]) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(indices.count * perImage)
        for i in indices { out += storage[i * perImage ..< (i + 1) * perImage] }
        return out
    }
}

/// Double buffering for the vision tower: batch `i + 1` is decoded and preprocessed on a
/// background queue while batch `i` runs through the transformer, so decoding uses the cycles
/// the matrix products leave idle instead of adding to the wall time.
public enum PixelPipeline {
    /// Calls `consume(i, batch)` for `i` in `0..<count`, in order, on the calling thread, with
    /// `load(i)` run ahead by one batch. If `consume` throws, the batch being loaded is waited
    /// for before the error propagates, so nothing outlives the call.
    public static func run(count: Int, load: @escaping @Sendable (Int) -> PixelBatch,
                           consume: (Int, PixelBatch) throws -> Void) rethrows {
        guard count > 0 else { return }
        final class Slot: @unchecked Sendable { var batch: PixelBatch? }
        let queue = DispatchQueue(label: "adaneg.pixel-pipeline")
        let group = DispatchGroup()
        let slot = Slot()
        queue.async(group: group) { slot.batch = load(0) }
        defer { group.wait() }
        for index in 0..<count {
            group.wait()
            guard let current = slot.batch else { return }
            slot.batch = nil
            if index + 1 < count {
                queue.async(group: group) { slot.batch = load(index + 1) }
            }
            try consume(index, current)
        }
    }
}
