import CLIP
import Foundation
import JobPlan
import JobProtocol
import Platform
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
    /// What the worker calls for a unit: as `embed`, but a failure of the embedder itself (a
    /// GPU's CUDA error), not of one image, throws `WorkerError.device` so the unit is released
    /// rather than failed.
    func embedUnit(_ refs: [String]) async throws -> [ImageOutcome]
}

extension ImageEmbedding {
    /// CPU embedders have no failure of their own: every problem is one image's.
    public func embedUnit(_ refs: [String]) async throws -> [ImageOutcome] { await embed(refs) }
}

extension ModelSource {
    /// The pixel limit a worker decodes this job's images under: the job's `max_pixels` (or
    /// the default) and the worker's own `--max-pixels`, whichever is smaller.
    public func pixelLimit(worker: Int?) -> Int {
        min(maxPixels ?? ImageDecoder.defaultMaxPixels, worker ?? .max)
    }
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
        // The job's precision, whatever this CPU prefers: features of one job never mix precisions.
        // Mapped from the converted-weights cache: local workers share one copy of the weights.
        model = try CLIPModel(directory: source.path, towers: .vision, precision: source.effectivePrecision,
                              weightCache: ConvertedWeights.configuredRoot())
        preprocessor = model.preprocessor(resize: source.resize, crop: source.crop)
        self.fetcher = fetcher
        self.batchSize = max(1, batchSize)
        self.maxPixels = maxPixels
    }

    public func embed(_ refs: [String]) async -> [ImageOutcome] {
        let fetched = await fetcher.fetchAll(refs)
        var out = [ImageOutcome](repeating: .failure("not embedded"), count: refs.count)
        let ranges = stride(from: 0, to: refs.count, by: batchSize).map { $0 ..< min(refs.count, $0 + batchSize) }
        let limit = maxPixels, preprocessor = self.preprocessor
        // The next batch decodes while this one runs through the tower.
        PixelPipeline.run(count: ranges.count, load: { index in
            let range = ranges[index]
            return PixelBatch(count: range.count, preprocessor: preprocessor) { k in
                let i = range.lowerBound + k
                switch fetched[i] {
                case let .failure(error): throw error
                case let .success(data): return try ImageDecoder.decode(data: data, path: refs[i], maxPixels: limit)
                }
            }
        }, consume: { index, batch in
            let range = ranges[index]
            let good = batch.loaded
            for (k, message) in batch.failures { out[range.lowerBound + k] = .failure(message) }
            guard !good.isEmpty else { return }
            do {
                let features = try model.embedPixels(batch.pixels(of: good), count: good.count)
                for (row, k) in good.enumerated() { out[range.lowerBound + k] = .feature(features.row(row)) }
            } catch {
                for k in good { out[range.lowerBound + k] = .failure("embedding failed: \(error)") }
            }
        })
        return out
    }
}
