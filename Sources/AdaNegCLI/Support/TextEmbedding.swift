import CLIP
import Foundation
import NegMining
import Platform
import Tensor

/// Text-side helpers of NegMining: class prompts, candidate η in blocks, final features.
enum TextEmbedding {
    /// One feature per class: each template embedded and normalised, averaged, renormalised.
    static func classFeatures(_ clip: CLIPModel, classNames: [String], templates: [String]) throws -> Matrix {
        var sum: Matrix?
        for template in templates {
            let prompts = classNames.map { template.replacingOccurrences(of: "{}", with: $0) }
            var m = try embed(clip, prompts: prompts, block: 4096)
            m.normalizeRows()
            if var s = sum {
                for i in s.storage.indices { s.storage[i] += m.storage[i] }
                sum = s
            } else {
                sum = m
            }
        }
        guard var features = sum else { throw CommandFailure("no --template given") }
        features.normalizeRows()
        return features
    }

    static func embed(_ clip: CLIPModel, prompts: [String], block: Int) throws -> Matrix {
        var storage = [Float]()
        var cols = clip.config.projectionDim
        for start in stride(from: 0, to: prompts.count, by: block) {
            var m = try clip.embedTexts(Array(prompts[start..<min(prompts.count, start + block)]))
            m.normalizeRows()
            cols = m.cols
            storage += m.storage
        }
        return Matrix(rows: prompts.count, cols: cols, storage: storage)
    }

    /// η of every prompt, a block at a time: only one block of features exists at once.
    static func etas(_ clip: CLIPModel, prompts: [String], idFeatures: Matrix, block: Int, progress: EmbeddingProgress) throws -> [Float] {
        var out = [Float]()
        out.reserveCapacity(prompts.count)
        for start in stride(from: 0, to: prompts.count, by: block) {
            let slice = Array(prompts[start..<min(prompts.count, start + block)])
            var features = try clip.embedTexts(slice)
            features.normalizeRows()
            out += NegativeSelection.etas(candidates: features, idFeatures: idFeatures)
            progress.advance(slice.count)
        }
        return out
    }
}

/// prompts/s and ETA on a terminal.
final class EmbeddingProgress {
    let total: Int
    private var done = 0
    private let started = Date()
    private let terminal = isatty(2) != 0

    init(total: Int) { self.total = total }

    func advance(_ n: Int) {
        done += n
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "embedded %d/%d prompts  %.0f prompts/s  ETA %.0f s", done, total, rate, eta)
        StandardError.write(terminal ? "\r\u{1B}[K" + line : line + "\n")
    }

    func finish() { if terminal { StandardError.write("\n") } }
}

/// The ID class-name file: UTF-8, one name per line, no empty lines; duplicates are allowed
/// (ImageNet's CLIP names have two) but warned about.
enum ClassList {
    static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("\(path): cannot read the class list") }
        var names = [String]()
        var seen = [String: Int]()
        for (i, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            guard let text = String(data: Data(raw), encoding: .utf8) else { throw CommandFailure("\(path):\(line): not UTF-8 text") }
            let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if name.isEmpty {
                if i == data.split(separator: 0x0A, omittingEmptySubsequences: false).count - 1 { continue } // final newline
                throw CommandFailure("\(path):\(line): empty class name")
            }
            if let first = seen[name] { StandardError.warn("\(path):\(line): class name '\(name)' repeats line \(first); the classes stay separate") }
            seen[name] = seen[name] ?? line
            names.append(name)
        }
        guard !names.isEmpty else { throw CommandFailure("\(path): no class names") }
        return names
    }
}

/// A user's candidate list: `word<TAB>noun|adj` per line.
enum Lexicon {
    static func read(_ path: String) throws -> (nouns: [String], adjectives: [String]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CommandFailure("\(path): cannot read the lexicon as UTF-8 text") }
        var nouns = [String](), adjectives = [String]()
        var seen = Set<String>()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let fields = line.split(separator: "\t")
            guard fields.count == 2, let pos = PartOfSpeech(rawValue: fields[1].trimmingCharacters(in: .whitespaces)) else {
                throw CommandFailure("\(path):\(i + 1): expected `word<TAB>noun` or `word<TAB>adj`")
            }
            let word = fields[0].trimmingCharacters(in: .whitespaces)
            guard seen.insert("\(pos.rawValue):\(word)").inserted else { continue }
            if pos == .noun { nouns.append(word) } else { adjectives.append(word) }
        }
        return (nouns, adjectives)
    }
}

/// What a mining run depends on; equal fingerprints mean the cached output is valid.
struct MiningFingerprint: Codable, Equatable {
    var model: String
    var classes: String
    var lexicon: String
    var count: Int
    var templates: [String]
    /// nil for fp32 (so caches mined before precisions existed stay valid), else the precision.
    var precision: String?

    init(model dir: String, classes: String, lexicon: String?, count: Int, templates: [String], precision: Precision = .fp32) throws {
        let config = URL(fileURLWithPath: dir).appendingPathComponent("config.json").path
        let weights = URL(fileURLWithPath: dir).appendingPathComponent("model.safetensors").path
        guard let head = FileHandle(forReadingAtPath: weights) else { throw CommandFailure("\(weights): no CLIP weights") }
        let prefix = head.readData(ofLength: 1 << 20)
        let size = (try? FileManager.default.attributesOfItem(atPath: weights)[.size] as? Int) ?? 0
        model = Self.hash([FileManager.default.contents(atPath: config) ?? Data(), prefix, Data("\(size)".utf8)])
        self.classes = Self.hash([FileManager.default.contents(atPath: classes) ?? Data()])
        self.lexicon = lexicon.map { Self.hash([FileManager.default.contents(atPath: $0) ?? Data()]) } ?? "wordnet-3.0"
        self.count = count
        self.templates = templates
        self.precision = precision == .fp32 ? nil : precision.rawValue
    }

    /// FNV-1a (64-bit): a cache key, not a security checksum.
    static func hash(_ parts: [Data]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        return String(format: "%016llx", h)
    }

    static func cached(in dir: String) -> MiningFingerprint? {
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

/// Writes into a temporary directory and renames it into place: a failed run leaves nothing.
enum MiningOutput {
    static func write(to out: String, _ body: (String) throws -> Void) throws {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: out).standardizedFileURL
        let parent = target.deletingLastPathComponent()
        try OutputDirectory.create(parent.path)
        let temp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: temp)
        try OutputDirectory.create(temp.path)
        do {
            try body(temp.path)
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.moveItem(at: temp, to: target)
        } catch {
            try? fm.removeItem(at: temp)
            throw CommandFailure("\(out): \(error)")
        }
    }
}
