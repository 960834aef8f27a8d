import Crypto
import Foundation

/// What a Hub ETag promises about a file's bytes. The Hub names LFS files (the weights) by the
/// sha256 of their content, and small git-stored files (config, vocab) by their git blob id,
/// sha1("blob <size>\0" + content). Anything else (a mirror with its own ETags) can only be
/// checked by size.
public enum ExpectedDigest: Equatable, Sendable {
    case sha256(String)
    case gitBlobSHA1(String)
    case unverifiable

    public init(etag: String) {
        let hex = etag.count == 64 || etag.count == 40 ? etag.allSatisfy(\.isHexDigit) : false
        if hex && etag.count == 64 { self = .sha256(etag.lowercased()) }
        else if hex && etag.count == 40 { self = .gitBlobSHA1(etag.lowercased()) }
        else { self = .unverifiable }
    }

    /// `W/"abc"` or `"abc"` as sent in the header, to the bare value the cache names blobs by.
    public static func normalise(etag header: String) -> String {
        var value = header.trimmingCharacters(in: .whitespaces)
        if value.hasPrefix("W/") { value.removeFirst(2) }
        return value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}

/// Hashes a download while it is written, so verifying the weights costs no second pass over
/// a large file. Only sha256 streams: git's blob id hashes the size before the content, and a
/// small file's size is only certain once it is complete, so those are hashed from disk at the end
/// (`gitBlobID(of:)`); they are kilobytes to a few megabytes.
struct StreamingDigest {
    private var sha256 = SHA256()
    let expected: ExpectedDigest

    init(expected: ExpectedDigest) {
        self.expected = expected
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if case .sha256 = expected { sha256.update(bufferPointer: bytes) }
    }

    mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// nil when the digest matches (or cannot be checked), else the digest actually seen.
    /// `file` is the complete download, read again only for git blob ids.
    func mismatch(file: URL) throws -> String? {
        switch expected {
        case .sha256(let want):
            let actual = Self.hex(sha256.finalize())
            return actual == want ? nil : actual
        case .gitBlobSHA1(let want):
            let actual = try Self.gitBlobID(of: file)
            return actual == want ? nil : actual
        case .unverifiable:
            return nil
        }
    }

    static func gitBlobID(of file: URL) throws -> String {
        let data = try Data(contentsOf: file, options: .alwaysMapped)
        var sha1 = Insecure.SHA1()
        sha1.update(data: Data("blob \(data.count)\0".utf8))
        sha1.update(data: data)
        return hex(sha1.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
