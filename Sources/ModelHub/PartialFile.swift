import Foundation

/// `blobs/<etag>.incomplete` while a download runs: what is already there is kept and hashed
/// first when the server resumes it (206 at our offset), thrown away when the server sends the
/// whole file instead (200), and written in large blocks so the disk sees few system calls.
final class PartialFile: @unchecked Sendable {
    private let handle: FileHandle
    private let url: URL
    private let expected: ExpectedDigest
    private var digest: StreamingDigest
    private var buffer = Data()
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
        buffer.reserveCapacity(Self.blockSize)
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

    func append(_ data: Data) throws {
        if rangeRejected { return }
        data.withUnsafeBytes { digest.update($0) }
        buffer.append(data)
        length += Int64(data.count)
        if buffer.count >= Self.blockSize { try flush() }
    }

    func close() {
        try? flush()
        try? handle.close()
    }

    /// Call after `close()`: the digest seen when it differs from the ETag's, else nil.
    func digestMismatch() throws -> String? { try digest.mismatch(file: url) }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
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
