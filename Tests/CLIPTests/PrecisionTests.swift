import CLIP
import Dispatch
import Foundation
import Platform
import Testing

/// bf16 towers against the fp32 ones and against transformers. bf16 rounds each product's
/// inputs to 8 significant bits; with fp32 accumulation and fp32 norms the features stay within
/// cosine 0.999 (the precision issue's bound). The products run through oneDNN, or through its
/// fallback on a CPU without bf16, so this suite runs on every machine.
@Suite("CLIP bf16 vs fp32")
struct PrecisionTests {
    @Test("text and image features: bf16 cosine ≥ 0.999 to fp32 and to transformers on every row", arguments: Fixtures.modelNames)
    func bf16MatchesFP32(model name: String) throws {
        let dir = try Fixtures.modelDirectory(name)
        let fp32 = try CLIPModel(directory: dir, precision: .fp32)
        let bf16 = try CLIPModel(directory: dir, precision: .bf16)
        #expect(bf16.precision == .bf16)
        let reference = try ModelTests.expected(name)

        let t32 = try fp32.embedTexts(reference.prompts)
        let t16 = try bf16.embedTexts(reference.prompts)
        var worstText = 1.0
        for i in 0..<reference.prompts.count {
            let c = cosine(t16.row(i), t32.row(i))
            worstText = min(worstText, c)
            #expect(c >= 0.999, "\(name): prompt \(i) bf16 vs fp32 cosine \(c)")
            #expect(cosine(t16.row(i), reference.textFeatures[i]) >= 0.999)
        }
        let images = try reference.images.map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
        let i32 = try fp32.embedImages(images)
        let i16 = try bf16.embedImages(images)
        var worstImage = 1.0
        for i in 0..<images.count {
            let c = cosine(i16.row(i), i32.row(i))
            worstImage = min(worstImage, c)
            #expect(c >= 0.999, "\(name): image \(reference.images[i]) bf16 vs fp32 cosine \(c)")
            #expect(cosine(i16.row(i), reference.imageFeatures[i]) >= 0.999)
        }
        // bf16 must actually change something: identical output would mean it silently ran fp32.
        #expect(i16.storage != i32.storage && t16.storage != t32.storage, "\(name): bf16 features equal fp32 bit for bit")
        print("[\(name)] bf16 vs fp32: min text cosine \(worstText), min image cosine \(worstImage)")
    }

    /// Catches state shared between embeddings (a scratch buffer reused across calls or threads
    /// once mixed images into each other: cosine 0.9965 to fp32 with several images at once).
    /// Each row of a batch must match that input embedded alone, both with the single embeddings
    /// run one after another and with all of them running at once on several threads.
    @Test("bf16: every row of a batch matches its input embedded alone, sequentially and concurrently", arguments: Fixtures.modelNames)
    func batchRowsMatchSingles(model name: String) throws {
        let model = try CLIPModel(directory: try Fixtures.modelDirectory(name), precision: .bf16)
        let reference = try ModelTests.expected(name)
        let images = try reference.images.map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
        let prompts = reference.prompts

        let imageBatch = try model.embedImages(images)
        let textBatch = try model.embedTexts(prompts)
        let sequentialImages = try images.map { try model.embedImages([$0]).row(0) }
        let sequentialTexts = try prompts.map { try model.embedTexts([$0]).row(0) }
        // Images and texts alone, all at once (several rounds so the runs overlap).
        let rounds = 3
        let results = ConcurrentResults(count: rounds * (images.count + prompts.count))
        DispatchQueue.concurrentPerform(iterations: rounds * (images.count + prompts.count)) { job in
            let i = job % (images.count + prompts.count)
            let row = i < images.count
                ? try? model.embedImages([images[i]]).row(0)
                : try? model.embedTexts([prompts[i - images.count]]).row(0)
            results.set(job, row)
        }

        var worst = 1.0
        func check(_ batchRow: [Float], _ alone: [Float]?, _ what: String) {
            guard let alone else { Issue.record("\(name): \(what) failed to embed"); return }
            let c = cosine(batchRow, alone)
            worst = min(worst, c)
            #expect(c >= 0.9999, "\(name): \(what) in a batch vs alone: cosine \(c)")
        }
        for (i, file) in reference.images.enumerated() {
            check(imageBatch.row(i), sequentialImages[i], "image \(file)")
        }
        for (i, prompt) in prompts.enumerated() {
            check(textBatch.row(i), sequentialTexts[i], "prompt \(prompt.debugDescription)")
        }
        for job in 0..<(rounds * (images.count + prompts.count)) {
            let i = job % (images.count + prompts.count)
            if i < images.count {
                check(imageBatch.row(i), results.get(job), "image \(reference.images[i]) (concurrent)")
            } else {
                check(textBatch.row(i - images.count), results.get(job), "prompt \(prompts[i - images.count].debugDescription) (concurrent)")
            }
        }
        print("[\(name)] bf16 batch vs alone: min cosine \(worst)")
    }
}

/// Rows written by concurrent jobs, one slot each.
final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [[Float]?]

    init(count: Int) { rows = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ row: [Float]?) {
        lock.lock(); defer { lock.unlock() }
        rows[index] = row
    }

    func get(_ index: Int) -> [Float]? {
        lock.lock(); defer { lock.unlock() }
        return rows[index]
    }
}
