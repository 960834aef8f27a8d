import CLIP
import Coordinator
import Foundation
import Tensor

/// What became of one image: its feature (L2-normalised) or why there is none.
public enum ImageOutcome: Sendable, Equatable {
    case feature([Float])
    case failure(String)
}

/// Turns image references into features: the seam between a worker and its embedder (CLIP
/// for real jobs; tests and benchmarks substitute their own).
public protocol ImageEmbedding: Sendable {
    func embed(_ refs: [String]) async -> [ImageOutcome]
}

/// CLIP's image tower with the job's preprocessing: fetch (bounded concurrency), decode and
/// preprocess on every core, embed in batches.
public final class CLIPImageEmbedder: ImageEmbedding {
    let model: CLIPModel
    let preprocessor: ImagePreprocessor
    let fetcher: ImageFetcher
    let batchSize: Int
    let maxPixels: Int

    /// Loads the model's image tower and checks it is the model the job was planned with.
    public init(source: ModelSource, fetcher: ImageFetcher = ImageFetcher(), batchSize: Int = 32,
                maxPixels: Int = ImageDecoder.defaultMaxPixels) throws {
        let checksum = try ModelChecksum.of(directory: source.path)
        guard checksum == source.checksum else { throw WorkerError.modelMismatch(path: source.path, found: checksum, expected: source.checksum) }
        model = try CLIPModel(directory: source.path, towers: .vision)
        preprocessor = model.preprocessor(resize: source.resize, crop: source.crop)
        self.fetcher = fetcher
        self.batchSize = max(1, batchSize)
        self.maxPixels = maxPixels
    }

    public func embed(_ refs: [String]) async -> [ImageOutcome] {
        let fetched = await fetcher.fetchAll(refs)
        var out = [ImageOutcome](repeating: .failure("not embedded"), count: refs.count)
        for start in stride(from: 0, to: refs.count, by: batchSize) {
            let range = start ..< min(refs.count, start + batchSize)
            let batch = Pixels(count: range.count, perImage: preprocessor.outputCount)
            let pre = preprocessor, limit = maxPixels
            let threads = max(1, min(NeuralKernels.activeProcessorCount, range.count))
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for k in stride(from: t, to: range.count, by: threads) {
                    let i = range.lowerBound + k
                    switch fetched[i] {
                    case let .failure(error): batch.fail(k, error.description)
                    case let .success(data):
                        do {
                            let image = try ImageDecoder.decode(data: data, path: refs[i], maxPixels: limit)
                            batch.fill(k) { pre.process(image, into: $0) }
                        } catch {
                            batch.fail(k, "\(error)")
                        }
                    }
                }
            }
            let good = (0..<range.count).filter { batch.failures[$0] == nil }
            for (k, message) in batch.failures { out[range.lowerBound + k] = .failure(message) }
            guard !good.isEmpty else { continue }
            do {
                let features = try model.embedPixels(batch.pixels(of: good), count: good.count)
                for (row, k) in good.enumerated() { out[range.lowerBound + k] = .feature(features.row(row)) }
            } catch {
                for k in good { out[range.lowerBound + k] = .failure("embedding failed: \(error)") }
            }
        }
        return out
    }

    /// Preprocessed pixels of one batch, filled concurrently: each image owns its slice.
    /// The buffer is allocated once and never resized, so concurrent writers to disjoint
    /// slices do not race.
    final class Pixels: @unchecked Sendable {
        let perImage: Int
        private let storage: UnsafeMutableBufferPointer<Float>
        private(set) var failures: [Int: String] = [:]
        private let lock = NSLock()

        init(count: Int, perImage: Int) {
            self.perImage = perImage
            storage = .allocate(capacity: count * perImage)
            storage.initialize(repeating: 0)
        }

        deinit { storage.deallocate() }

        func fill(_ index: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
            body(UnsafeMutableBufferPointer(rebasing: storage[index * perImage ..< (index + 1) * perImage]))
        }

        func fail(_ index: Int, _ message: String) {
            lock.lock()
            failures[index] = message
            lock.unlock()
        }

        func pixels(of indices: [Int]) -> [Float] {
            var out = [Float]()
            out.reserveCapacity(indices.count * perImage)
            for i in indices { out += storage[i * perImage ..< (i + 1) * perImage] }
            return out
        }
    }
}
