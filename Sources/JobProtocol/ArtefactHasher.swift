import Crypto
import Foundation
import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Hashing lives apart from the digest type so that code which only decodes and checks
// digests (the protocol messages, their fuzz target) does not depend on swift-crypto.

extension ArtefactDigest {
    /// The digest of a file's content, read in 1 MiB pieces into one buffer (constant memory,
    /// any size). One reused buffer, not a fresh allocation per piece: every fresh piece was
    /// new pages for the kernel to fault in and clear, as much work again as the hash for the
    /// gigabytes a scale run's workers check at their first unit.
    public static func of(file path: String) throws -> ArtefactDigest {
        // A FIFO would block the open and a device never end: refused before opening.
        do { try RegularFile.check(path) } catch { throw ArtefactError.unreadable(path: path, reason: error.reason) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArtefactError.unreadable(path: path, reason: "cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var hasher = ArtefactHasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ArtefactError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
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
