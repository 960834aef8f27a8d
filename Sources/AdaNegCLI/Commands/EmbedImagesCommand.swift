import ArgumentParser
import CLIP
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
#endif
import NPY
import Platform
import Tensor
import Worker

/// `adaneg embed-images`: CLIP image features, one row per line of the image list.
struct EmbedImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-images",
        abstract: "Embed images with a CLIP vision tower into an L2-normalised float32 .npy.",
        discussion: """
        LIST holds one image per line: a path (relative paths are resolved against the current \
        directory), a file:// URL or an http(s):// URL. Blank lines are skipped. JPEG and PNG are \
        decoded (every colour mode becomes RGB as Pillow converts it), resized on the shorter \
        side with Pillow's bicubic filter, centre-cropped and normalised with CLIP's mean and std, \
        exactly as OpenAI CLIP and OpenOOD preprocess. --resize and --crop default to the model's \
        image size; OpenOOD's test transform is --resize 256 --crop 224 for a 224 model.

        Row i of the output is the i-th image. An unreadable image (missing, empty, truncated, \
        not an image, above --max-pixels) stops the command, unless --skip-bad is given: then its \
        row is all zeros and the bad images are listed on standard error.
        """
    )

    @Option(help: "Hugging Face CLIP model directory (config.json, model.safetensors), or a Hub id org/name[@revision].")
    var model: String
    @Option(help: "Image list: one path or URL per line.")
    var images: String
    @Option(help: "Output .npy (count × projection_dim, float32).")
    var out: String
    @Option(help: "Shorter side after resizing (default: the model's image size).")
    var resize: Int?
    @Option(help: "Centre crop size (default: the model's image size; must equal it).")
    var crop: Int?
    @Option(name: .customLong("batch-size"), help: "Images per forward pass (default: 32 on the CPU; on a GPU, what fits its memory).")
    var batchSize: Int?
    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?
    @OptionGroup var precisionOptions: PrecisionOptions
    @OptionGroup var deviceOptions: DeviceOptions
    @Option(name: .customLong("max-pixels"), help: "Refuse images with more pixels than this.")
    var maxPixels = ImageDecoder.defaultMaxPixels
    @Flag(name: .customLong("skip-bad"), help: "Write a zero row for unreadable images instead of failing.")
    var skipBad = false

    /// Out-of-range numbers are a user error (exit 2), naming the flag and the value.
    func checkRanges() throws {
        if let resize, resize < 1 { throw CommandFailure("--resize must be positive (got \(resize))") }
        if let crop, crop < 1 { throw CommandFailure("--crop must be positive (got \(crop))") }
        try SharedFlagRanges.checkComputeThreads(threads)
    }

    struct Item: Sendable {
        var line: Int
        var reference: String
    }

    func run() throws {
        try checkRanges()
        try DeviceOptions.checkBatchSize(batchSize)
        try PixelLimit.check(maxPixels, flag: "--max-pixels")
        let items = try Self.readList(images)
        let output = try outputTarget(items)
        if let threads {
            BLAS.setThreads(threads)
            NeuralKernels.activeProcessorCount = threads
        }
        let device = try deviceOptions.choice()
        if device != .cpu {
            // `auto` without a usable GPU falls through to the CPU path below, unchanged.
            if device == .auto, precisionOptions.precision?.lowercased() == "fp32" {
                StandardError.write("note: device auto with --precision fp32: running on the CPU (the GPU runs bf16 or fp16)\n")
            } else if let gpu = try deviceOptions.open(lowPrecision: try precisionOptions.gpuPrecision()) {
                return try GPUImageEmbedding(command: self, items: items, device: gpu, output: output).run()
            }
        }
        let clip: CLIPModel
        let precision = try precisionOptions.resolve()
        let folder = try ModelArgument.folder(model)
        do { clip = try CLIPModel(directory: folder, towers: .vision, precision: precision,
                                       weightCache: ConvertedWeights.configuredRoot()) } catch { throw CommandFailure("\(error)") }
        let size = clip.config.vision.imageSize
        if let crop, crop != size {
            throw CommandFailure("--crop \(crop) does not match the model's image size \(size) (\(folder)/config.json)")
        }
        let pre = clip.preprocessor(resize: resize, crop: crop)
        let dim = clip.config.projectionDim
        var features = [Float](repeating: 0, count: items.count * dim)
        var bad: [(Item, String)] = []
        let progress = Progress(total: items.count)

        // Batches are decoded and preprocessed on a background queue while the previous batch
        // runs through the transformer.
        let batchSize = self.batchSize ?? 32
        let batches = stride(from: 0, to: items.count, by: batchSize).map { Array(items[$0..<min(items.count, $0 + batchSize)]) }
        let maxPixels = self.maxPixels
        var offset = 0
        try PixelPipeline.run(count: batches.count, load: { index in
            let batch = batches[index]
            return PixelBatch(count: batch.count, preprocessor: pre) { try Self.decode(batch[$0].reference, maxPixels: maxPixels) }
        }) { index, current in
            let batch = batches[index]
            for (i, message) in current.failures.sorted(by: { $0.key < $1.key }) {
                let item = batch[i]
                if !skipBad { throw CommandFailure("\(images):\(item.line): \(message)") }
                bad.append((item, message))
            }
            let good = current.loaded
            if !good.isEmpty {
                let pixels = current.pixels(of: good)
                let embedded: Matrix
                do { embedded = try clip.embedPixels(pixels, count: good.count) } catch { throw CommandFailure("\(error)") }
                for (row, i) in good.enumerated() {
                    for j in 0..<dim { features[(offset + i) * dim + j] = embedded.storage[row * dim + j] }
                }
            }
            offset += batch.count
            progress.advance(by: batch.count)
        }
        progress.finish()
        try finish(features: features, dim: dim, items: items, bad: bad, output: output)
    }

    /// `--out`, checked before any image is read: a .npy (a previous output) may be replaced,
    /// never the list, the model's files or, when `--out` exists, one of the listed images.
    func outputTarget(_ items: [Item]) throws -> OutputTarget {
        var inputs = [OutputTarget.Input(images, flag: "--images")] + OutputTarget.model(model)
        if FileManager.default.fileExists(atPath: out) {
            inputs += items.compactMap { item in
                if item.reference.hasPrefix("http://") || item.reference.hasPrefix("https://") { return nil }
                let path = item.reference.hasPrefix("file://") ? URL(string: item.reference)?.path : item.reference
                return path.map { OutputTarget.Input($0, flag: "--images (line \(item.line))") }
            }
        }
        return try .checkedFile(out, replacing: .npy, inputs: inputs)
    }

    /// Lists the unreadable images and writes the output: the same for the CPU and the GPU.
    /// An embedding that is not finite (a model that overflowed on an image) is that image's
    /// error like an unreadable one: no NaN is ever written.
    func finish(features: [Float], dim: Int, items: [Item], bad: [(Item, String)], output: OutputTarget) throws {
        var features = features, bad = bad
        let failed = Set(bad.map(\.0.line))
        for (i, item) in items.enumerated() where !failed.contains(item.line) && !features[i * dim ..< (i + 1) * dim].allSatisfy(\.isFinite) {
            let message = "\(item.reference): its embedding is not finite (NaN or ±∞)"
            if !skipBad { throw CommandFailure("\(images):\(item.line): \(message)") }
            bad.append((item, message))
            for j in 0..<dim { features[i * dim + j] = 0 }
        }
        if !bad.isEmpty {
            StandardError.warn("\(bad.count) of \(items.count) image(s) could not be read; their rows are zero:")
            for (item, message) in bad { StandardError.write("  \(images):\(item.line): \(message)\n") }
        }
        try output.commit(.float32(features, shape: [items.count, dim]))
    }

    // MARK: Input

    static func readList(_ path: String) throws -> [Item] {
        let lines = try EmbedTextCommand.readLines(path, flag: "--images")
        var items: [Item] = []
        for (i, line) in lines.enumerated() {
            let reference = line.trimmingCharacters(in: .whitespaces)
            if reference.isEmpty { continue }
            items.append(Item(line: i + 1, reference: reference))
        }
        return items
    }

    /// Reads an image from a path, a file:// URL or an http(s):// URL.
    static func decode(_ reference: String, maxPixels: Int) throws -> RGBImage {
        if reference.hasPrefix("http://") || reference.hasPrefix("https://") {
            guard let url = URL(string: reference) else { throw ImageError.unreadable(path: reference, reason: "malformed URL") }
            let data = try fetch(url)
            return try ImageDecoder.decode(data: data, path: reference, maxPixels: maxPixels)
        }
        if reference.hasPrefix("file://") {
            guard let url = URL(string: reference) else { throw ImageError.unreadable(path: reference, reason: "malformed URL") }
            return try ImageDecoder.decode(path: url.path, maxPixels: maxPixels)
        }
        return try ImageDecoder.decode(path: reference, maxPixels: maxPixels)
    }

    /// The worker's fetcher (pooled connections, timeouts, retries of 5xx/429, a size limit), so
    /// `embed-images` and a job read an image URL the same way.
    static let fetcher = ImageFetcher(timeout: 60)

    /// Fetches one image for a decoding thread. Those are the pixel pipeline's dispatch threads,
    /// never the concurrency pool's, so waiting here cannot starve the task doing the fetch.
    static func fetch(_ url: URL) throws -> Data {
        final class Outcome: @unchecked Sendable { var value: Result<Data, FetchError>? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let reference = url.absoluteString
        Task.detached {
            outcome.value = await fetcher.fetch(reference)
            done.signal()
        }
        done.wait()
        switch outcome.value {
        case let .success(data): return data
        case let .failure(error): throw ImageError.unreadable(path: reference, reason: error.description)
        case nil: throw ImageError.unreadable(path: reference, reason: "not fetched")
        }
    }

    // MARK: Progress

    /// A one-line progress bar on standard error, only when it is a terminal.
    final class Progress {
        let total: Int
        var done = 0
        let enabled: Bool
        let start = Date()

        init(total: Int) {
            self.total = total
            enabled = isatty(2) != 0 && total > 0
        }

        func advance(by n: Int) {
            done += n
            guard enabled else { return }
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let elapsed = Date().timeIntervalSince(start)
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            StandardError.redraw(String(format: "[%@] %d/%d images  %.1f img/s", bar, done, total, rate))
        }

        func finish() {
            if enabled { StandardError.write("\n") }
        }
    }
}
