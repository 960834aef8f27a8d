import Crypto
import Foundation
import Platform

// Hashing lives apart from the digest type so that code which only decodes and checks
// digests (the protocol messages, their fuzz target) does not depend on swift-crypto.

extension ArtefactDigest {
    /// The digest of a file's content, read in 4 MiB pieces (constant memory, any size).
    public static func of(file path: String) throws -> ArtefactDigest {
        // A FIFO would block the open and a device never end: refused before opening.
        do { try RegularFile.check(path) } catch { throw ArtefactError.unreadable(path: path, reason: error.reason) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ArtefactError.unreadable(path: path, reason: "cannot be opened") }
        defer { try? handle.close() }
        var hasher = ArtefactHasher()
        do {
            while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(chunk) }
        } catch {
            throw ArtefactError.unreadable(path: path, reason: "\(error)")
        }
        return hasher.finish()
    }
}

/// sha256 and length of a stream of bytes: hashed while a download is written, so verifying
/// it costs no second pass over the file.
public struct ArtefactHasher: Sendable {
    private var sha = SHA256()
    public private(set) var bytes = 0

    public init() {}

    public mutating func update(_ data: Data) {
        sha.update(data: data)
        bytes += data.count
    }

    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        sha.update(bufferPointer: raw)
        bytes += raw.count
    }

    public func finish() -> ArtefactDigest {
        ArtefactDigest(sha256: sha.finalize().map { String(format: "%02x", $0) }.joined(), bytes: bytes)
    }
}
