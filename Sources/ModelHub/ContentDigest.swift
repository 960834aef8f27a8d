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

/// Checks a complete file against what its ETag promises. A download's sha256 (the weights)
/// is computed while it is written, by `TrailingHasher`, and handed in, so verifying a large file
/// costs no second pass; git blob ids hash the size before the content, and a small file's size is
/// only certain once it is complete, so those are hashed from disk at the end (kilobytes to a few
/// megabytes).
enum DigestCheck {
    /// nil when `file` matches `expected` (or cannot be checked), else the digest actually seen.
    /// `sha256` is the file's sha256 when already known; without it the file is read again.
    static func mismatch(_ expected: ExpectedDigest, file: URL, sha256: String? = nil) throws -> String? {
        switch expected {
        case .sha256(let want):
            let actual = try sha256 ?? Self.sha256(of: file)
            return actual == want ? nil : actual
        case .gitBlobSHA1(let want):
            let actual = try gitBlobID(of: file)
            return actual == want ? nil : actual
        case .unverifiable:
            return nil
        }
    }

    static func sha256(of file: URL) throws -> String {
        hex(SHA256.hash(data: try Data(contentsOf: file, options: .alwaysMapped)))
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
