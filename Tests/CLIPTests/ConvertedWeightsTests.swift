@testable import CLIP
import Foundation
import Platform
import Tensor
import Testing

/// The converted-weights cache: built once, mapped afterwards (shared by processes), identical
/// results, and a damaged entry rebuilt instead of used.
@Suite("Converted-weights cache", .serialized)
struct ConvertedWeightsTests {
    static func freshRoot() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    func features(_ model: CLIPModel) throws -> [Float] {
        let reference = try ModelTests.expected("tiny-p32-quickgelu-fp32")
        let images = try reference.images.prefix(4).map { try ImageDecoder.decode(path: Fixtures.path("images/\($0)")) }
        return try model.embedImages(images).storage + model.embedTexts(Array(reference.prompts.prefix(4))).storage
    }

    @Test("built once, then mapped; features equal a load without the cache bit for bit", arguments: [Precision.fp32, .bf16])
    func buildThenMap(precision: Precision) throws {
        let root = try Self.freshRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")
        let direct = try CLIPModel(directory: dir, precision: precision)
        let first = try CLIPModel(directory: dir, precision: precision, weightCache: root)
        #expect(first.cacheOutcome == .built)
        let second = try CLIPModel(directory: dir, precision: precision, weightCache: root)
        #expect(second.cacheOutcome == .reused)
        // From the cache every product weight is mapped, none held privately.
        #expect(second.weightMemory.owned == 0 && second.weightMemory.mapped > 0, "\(second.weightMemory)")
        #expect(second.weightMemory.mapped == direct.weightMemory.mapped + direct.weightMemory.owned)
        let expected = try features(direct)
        #expect(try features(first) == expected)
        #expect(try features(second) == expected)
        let entries = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".safetensors") }
        #expect(entries.count == 1 && entries[0].hasSuffix("-\(precision.rawValue).safetensors"))
    }

    /// A fresh cache folder holding the fixture model's entry in `precision`: the folder, the
    /// model folder, the entry's path, and the features of a load without the cache.
    func builtEntry(_ precision: Precision) throws -> (root: URL, dir: String, path: URL, expected: [Float]) {
        let root = try Self.freshRoot()
        let dir = try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")
        let expected = try features(try CLIPModel(directory: dir, precision: precision))
        _ = try CLIPModel(directory: dir, precision: precision, weightCache: root)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: root.path).first { $0.hasSuffix(".safetensors") })
        return (root, dir, root.appendingPathComponent(name), expected)
    }

    @Test("a corrupt or truncated entry is detected and rebuilt, never used")
    func corruption() throws {
        let (root, dir, path, expected) = try builtEntry(.bf16)
        defer { try? FileManager.default.removeItem(at: root) }

        // One flipped byte in the data section.
        var bytes = try Data(contentsOf: path)
        bytes[bytes.count - 100] ^= 0x5A
        try bytes.write(to: path)
        let afterFlip = try CLIPModel(directory: dir, precision: .bf16, weightCache: root)
        guard case .rebuilt(let reason) = afterFlip.cacheOutcome else { Issue.record("a corrupt entry was used: \(String(describing: afterFlip.cacheOutcome))"); return }
        #expect(reason.contains("checksum"), "\(reason)")
        #expect(try features(afterFlip) == expected)

        // Cut in half.
        let whole = try Data(contentsOf: path)
        try whole.prefix(whole.count / 2).write(to: path)
        let afterCut = try CLIPModel(directory: dir, precision: .bf16, weightCache: root)
        guard case .rebuilt = afterCut.cacheOutcome else { Issue.record("a truncated entry was used"); return }
        #expect(try features(afterCut) == expected)
        #expect(try CLIPModel(directory: dir, precision: .bf16, weightCache: root).cacheOutcome == .reused)
    }

    @Test("the check's checksum, read in 8 MiB chunks, equals the one written while building, across chunk boundaries and odd tails")
    func chunkedChecksum() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-hash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        var state: UInt64 = 3
        for (size, offset) in [(0, 0), (13, 5), (8 << 20, 8), ((8 << 20) + 8, 0), (2 * (8 << 20) + 13, 21)] {
            let bytes = Data((0 ..< size + offset).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 56)
            })
            try bytes.write(to: file)
            var written = ConvertedWeights.StreamingHash()
            // The build side hashes in uneven pieces.
            var at = offset
            for piece in [7, 1 << 20, 5 << 20, Int.max] where at < bytes.count {
                let end = min(bytes.count, at + min(piece, bytes.count))
                written.add(bytes.subdata(in: at ..< end))
                at = end
            }
            if at < bytes.count { written.add(bytes.subdata(in: at ..< bytes.count)) }
            let read = try #require(ConvertedWeights.dataHash(path: file.path, from: offset))
            #expect(read.length == size && read.hash == written.hex, "size \(size) offset \(offset)")
        }
        #expect(ConvertedWeights.dataHash(path: file.path + ".missing", from: 0) == nil)
    }

    /// Where oneDNN packs weights on this machine (a brgemm kernel: AVX-512 or AMX).
    static var packs: Bool { OneDNNMatmul.shared.packedLayout(n: 64, k: 64, element: .bf16) != nil }

    @Test("product weights are stored packed too and loads read them; a flipped byte in a packed block is caught by the checksum",
          arguments: [Precision.fp32, .bf16])
    func packedBlocks(precision: Precision) throws {
        let root = try Self.freshRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")
        let expected = try features(try CLIPModel(directory: dir, precision: precision))
        let first = try CLIPModel(directory: dir, precision: precision, weightCache: root)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: root.path).first { $0.hasSuffix(".safetensors") })
        let path = root.appendingPathComponent(name)
        let file = try SafetensorsFile(path: path.path)
        let packedNames = file.tensors.keys.filter { $0.contains(".packed.") }.sorted()
        guard Self.packs else {
            #expect(packedNames.isEmpty && first.weightMemory.packed == 0)
            return
        }
        // Q, K and V packed apart, the other three products whole: 6 blocks per layer.
        let layers = file.tensors.keys.filter { $0.hasSuffix(".self_attn.qkv_proj.weight") }.count
        #expect(layers > 0 && packedNames.count == 6 * layers, "\(packedNames)")
        #expect(file.metadata["adaneg_packing"]?.contains(OneDNNMatmul.version) == true)
        let second = try CLIPModel(directory: dir, precision: precision, weightCache: root)
        #expect(second.cacheOutcome == .reused)
        #expect(second.weightMemory.packed > 0 && second.weightMemory.packed == first.weightMemory.packed)
        #expect(try features(second) == expected)

        // One flipped byte inside a packed block (not the plain values): rebuilt, never used.
        let block = try #require(file.tensors[packedNames[0]])
        let dataStart = 8 + Int(try Data(contentsOf: path).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var bytes = try Data(contentsOf: path)
        bytes[dataStart + block.offsets.lowerBound + block.offsets.count / 2] ^= 0x41
        try bytes.write(to: path)
        let afterFlip = try CLIPModel(directory: dir, precision: precision, weightCache: root)
        guard case .rebuilt(let reason) = afterFlip.cacheOutcome else { Issue.record("a corrupt packed block was used"); return }
        #expect(reason.contains("checksum"), "\(reason)")
        #expect(try features(afterFlip) == expected)
    }

    @Test("an entry packed for another oneDNN or CPU kernel is rebuilt, not misread")
    func packedElsewhere() throws {
        try #require(Self.packs, "oneDNN packs no weights on this CPU")
        let (root, dir, path, expected) = try builtEntry(.bf16)
        defer { try? FileManager.default.removeItem(at: root) }
        // Another machine's signature: same length, another oneDNN version.
        var bytes = try Data(contentsOf: path)
        let needle = Data("oneDNN \(OneDNNMatmul.version)".utf8)
        let range = try #require(bytes.range(of: needle))
        bytes.replaceSubrange(range, with: Data("oneDNN \(String(repeating: "9", count: OneDNNMatmul.version.count))".utf8))
        try bytes.write(to: path)
        let reloaded = try CLIPModel(directory: dir, precision: .bf16, weightCache: root)
        guard case .rebuilt(let reason) = reloaded.cacheOutcome else { Issue.record("a foreign packing was used"); return }
        #expect(reason.contains("packed for another"), "\(reason)")
        #expect(try features(reloaded) == expected)
    }

    @Test("an unwritable cache folder falls back to loading directly")
    func unwritable() throws {
        let root = try Self.freshRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let blocker = root.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let dir = try Fixtures.modelDirectory("tiny-p32-quickgelu-fp32")
        let model = try CLIPModel(directory: dir, precision: .bf16, weightCache: blocker.appendingPathComponent("weights"))
        #expect(model.cacheOutcome == nil)
        #expect(try features(model) == features(try CLIPModel(directory: dir, precision: .bf16)))
    }
}
