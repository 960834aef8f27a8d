import Foundation

/// `blobs/<etag>.incomplete` while a download runs: what is already there is kept and hashed
/// first when the server resumes it (206 at our offset), thrown away when the server sends the
/// whole file instead (200). Each piece libcurl hands over (up to its 512 KB buffer) is hashed and
/// written straight to the file descriptor: no intermediate copy, so a download costs the CPU of
/// `curl -o` plus sha256. (Staging 8 MB blocks for a writer thread cost more CPU than it saved on
/// a two-core machine shared with the server: an extra copy and fresh pages for every block.)
final class PartialFile: @unchecked Sendable {
    private let handle: FileHandle
    private let url: URL
    private let expected: ExpectedDigest
    private var digest: StreamingDigest
    private(set) var length: Int64
    /// A 206 that starts elsewhere than our length: the bytes cannot be appended.
    private(set) var rangeRejected = false
    private static let blockSize = 8 << 20

    init(url: URL, expected: ExpectedDigest) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
            }
        }
        self.url = url
        self.expected = expected
        handle = try FileHandle(forUpdating: url)
        length = Int64(try handle.seekToEnd())
        digest = StreamingDigest(expected: expected)
    }

    /// Decides what to do with the bytes already on disk once the answer's status is known.
    func begin(status: Int, contentRange: String?) throws {
        switch status {
        case 206:
            guard let start = Self.rangeStart(contentRange), start == length else {
                rangeRejected = true
                return
            }
            try hashExisting()
        case 200..<300:
            try handle.truncate(atOffset: 0)
            length = 0
            digest = StreamingDigest(expected: expected)
        default:
            break
        }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        if rangeRejected { return }
        digest.update(bytes)
        try Self.writeAll(handle.fileDescriptor, bytes, path: url.path)
        length += Int64(bytes.count)
    }

    func close() {
        try? handle.close()
    }

    /// Call after `close()`: the digest seen when it differs from the ETag's, else nil.
    func digestMismatch() throws -> String? { try digest.mismatch(file: url) }

    /// `write(2)` until every byte is out (it may write less than asked), retrying on EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard var base = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, base, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path,
                                 NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
            left -= n
            base += n
        }
    }

    private func hashExisting() throws {
        guard case .sha256 = digest.expected else { return }
        try handle.seek(toOffset: 0)
        var remaining = length
        while remaining > 0 {
            let chunk = try handle.read(upToCount: Int(min(Int64(Self.blockSize), remaining))) ?? Data()
            if chunk.isEmpty { break }
            digest.update(chunk)
            remaining -= Int64(chunk.count)
        }
        _ = try handle.seekToEnd()
    }

    /// `bytes 100-999/1000` → 100.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, header.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = header.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        return Int64(spec[..<dash].trimmingCharacters(in: .whitespaces))
    }
}
