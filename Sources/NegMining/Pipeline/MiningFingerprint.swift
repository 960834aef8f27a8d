import CLIP
import Foundation
import Platform

/// What a mining run depends on; equal fingerprints mean the cached output is valid.
public struct MiningFingerprint: Codable, Equatable, Sendable {
    var model: String
    var classes: String
    var lexicon: String
    var count: Int
    var templates: [String]
    /// nil for fp32 (so caches mined before precisions existed stay valid), else the precision.
    var precision: String?

    public init(model dir: String, classes: String, lexicon: String?, count: Int, templates: [String], precision: Precision = .fp32) throws {
        // The model's one fingerprint, the key stored image features use too.
        do { model = try ModelChecksum.of(directory: dir) } catch { throw MiningError("\(dir): \(error)") }
        self.classes = Self.hash([FileManager.default.contents(atPath: classes) ?? Data()])
        self.lexicon = lexicon.map { Self.hash([FileManager.default.contents(atPath: $0) ?? Data()]) } ?? "wordnet-3.0"
        self.count = count
        self.templates = templates
        self.precision = precision == .fp32 ? nil : precision.rawValue
    }

    /// FNV-1a (64-bit) of the input files: a cache key, not a security checksum.
    static func hash(_ parts: [Data]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        return String(format: "%016llx", h)
    }

    /// The fingerprint of the mining output in `dir`, if there is one.
    public static func cached(in dir: String) -> MiningFingerprint? {
        guard let data = FileManager.default.contents(atPath: "\(dir)/manifest.json") else { return nil }
        struct Manifest: Decodable { var inputs: MiningFingerprint }
        return (try? JSONDecoder().decode(Manifest.self, from: data))?.inputs
    }

    func write(to path: String, idClasses: Int, negatives: Int, nouns: Int, adjectives: Int) throws {
        struct Manifest: Encodable {
            var inputs: MiningFingerprint
            var idClasses: Int, negatives: Int, nouns: Int, adjectives: Int
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(Manifest(inputs: self, idClasses: idClasses, negatives: negatives, nouns: nouns, adjectives: adjectives))
            .write(to: URL(fileURLWithPath: path))
    }
}
