import CLIP
import CUDABackend
import Foundation
import JobPlan
import JobProtocol
import Platform

/// CLIP's image tower on a GPU (or on any `DeviceLayer`: tests use `HostDevice`), behind the
/// same `ImageEmbedding` seam as `CLIPImageEmbedder`. It serves only jobs planned in bf16, in
/// bf16: stored features are keyed by the job's precision (`ModelSource.featureKey`), so a
/// GPU's features land in the bf16 bank and never beside fp32 CPU features.
public final class GPUImageEmbedder: ImageEmbedding, @unchecked Sendable {
    let tower: GPUVisionTower
    let preprocessor: ImagePreprocessor
    let fetcher: ImageFetcher
    let maxPixels: Int
    /// The tower keeps per-batch state; the worker embeds one unit at a time, the lock makes sure.
    let lock = NSLock()

    /// Uploads the model's image tower to `device`. `batchSize` nil fits the batch to the free
    /// memory. A job not planned in bf16, or a device holding another 16-bit format, is refused.
    public init(source: ModelSource, device: any DeviceLayer, fetcher: ImageFetcher = ImageFetcher(), batchSize: Int? = nil,
                maxPixels: Int = ImageDecoder.defaultMaxPixels) throws {
        guard source.effectivePrecision == .bf16, device.lowPrecision == .bf16 else {
            throw WorkerError.device("the GPU embeds in bf16, this job was planned in \(source.effectivePrecision.rawValue) (device: \(device.lowPrecision.rawValue)); plan it with precision bf16 to use the GPU")
        }
        let checksum = try ModelChecksum.of(directory: source.path)
        guard checksum == source.checksum else { throw WorkerError.modelMismatch(path: source.path, found: checksum, expected: source.checksum) }
        // fp32 host weights: the tower converts the products' weights to the device's format itself.
        let model = try CLIPModel(directory: source.path, towers: .vision, precision: .fp32)
        guard let vision = model.vision else { throw WorkerError.plan("\(source.path) has no vision tower") }
        preprocessor = model.preprocessor(resize: source.resize, crop: source.crop)
        do {
            tower = try GPUVisionTower(device: device, vision: vision, preprocessor: preprocessor, batchSize: batchSize)
        } catch {
            throw WorkerError.device("loading the vision tower: \(error)")
        }
        self.fetcher = fetcher
        self.maxPixels = maxPixels
    }

    /// Where the tower logs its out-of-memory retries.
    public var log: (String) -> Void {
        get { tower.log }
        set { tower.log = newValue }
    }

    public func embed(_ refs: [String]) async -> [ImageOutcome] {
        do { return try await embedUnit(refs) } catch {
            return [ImageOutcome](repeating: .failure("embedding failed: \(error)"), count: refs.count)
        }
    }

    /// A device error throws `WorkerError.device`: the worker releases the unit (the images are
    /// fine; another worker, or this one on the CPU, can embed them).
    public func embedUnit(_ refs: [String]) async throws -> [ImageOutcome] {
        let fetched = await fetcher.fetchAll(refs)
        let result: (features: [Float], failures: [Int: String])
        do { result = try run(refs, fetched) } catch {
            throw WorkerError.device("\(error)")
        }
        let dim = tower.projectionDim
        return (0..<refs.count).map { i in
            if let message = result.failures[i] { return .failure(message) }
            return .feature(Array(result.features[i * dim ..< (i + 1) * dim]))
        }
    }

    /// The device part, synchronous: one unit on the tower at a time.
    private func run(_ refs: [String], _ fetched: [Result<Data, FetchError>]) throws(GPUError) -> (features: [Float], failures: [Int: String]) {
        lock.lock()
        defer { lock.unlock() }
        let limit = maxPixels
        return try GPUImageBatches.embed(tower: tower, preprocessor: preprocessor, count: refs.count) { i in
            switch fetched[i] {
            case let .failure(error): throw error
            case let .success(data): return try ImageDecoder.decode(data: data, path: refs[i], maxPixels: limit)
            }
        }
    }
}
