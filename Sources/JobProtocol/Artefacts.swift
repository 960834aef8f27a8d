import Foundation

/// A file a plan names (label text features, a permutation, a model folder's files),
/// addressed by its content so a worker that lacks it, or holds a different file under the
/// same path, gets the coordinator's copy: `GET /v1/artefacts/{sha256}`. Recorded at
/// submission; a worker verifies every byte it uses against it.
public struct ArtefactDigest: Codable, Sendable, Hashable {
    /// Lower-case hex sha256 of the content.
    public var sha256: String
    /// The content's length in bytes: what a worker allocates disk for and the most it reads.
    public var bytes: Int

    public init(sha256: String, bytes: Int) {
        self.sha256 = sha256
        self.bytes = bytes
    }

    /// The largest artefact a worker fetches (a ViT-L/14 checkpoint is 1.7 GB): a plan from the
    /// network that declares more is refused before anything is written.
    public static let maxBytes = 64 << 30

    /// Whether `text` is a sha256 as artefacts are addressed: 64 lower-case hex digits.
    public static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Why this digest cannot be used (it comes over the network), or nil.
    public var problem: String? {
        if !Self.isSHA256(sha256) { return "sha256 '\(sha256.prefix(80))' is not 64 lower-case hex digits" }
        if !(0...Self.maxBytes).contains(bytes) { return "size \(bytes) is out of range 0...\(Self.maxBytes)" }
        return nil
    }
}

/// Why an artefact could not be read, served or fetched.
public enum ArtefactError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    /// The bytes a worker received (or found in its cache) are not the ones recorded.
    case mismatch(path: String, expected: ArtefactDigest, found: ArtefactDigest)
    case invalid(path: String, reason: String)
    case noSpace(folder: String, needed: Int, free: Int)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): \(reason)"
        case let .mismatch(path, expected, found):
            "\(path): expected sha256 \(expected.sha256) (\(expected.bytes) bytes), got \(found.sha256) (\(found.bytes) bytes)"
        case let .invalid(path, reason): "\(path): \(reason)"
        case let .noSpace(folder, needed, free): "\(folder): \(needed) bytes needed, \(free) free"
        }
    }
}
