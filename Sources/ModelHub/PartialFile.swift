import Foundation

/// `blobs/<etag>.incomplete` while a download runs: what is already there is kept when the
/// server resumes it (206 at our offset), thrown away when the server sends the whole file
/// instead (200). libcurl hands the body over 16 KB at a time (`CURL_MAX_WRITE_SIZE`), so pieces
/// are gathered in one reused 4 MiB buffer and written with one `write(2)` each; a
/// `TrailingHasher` then hashes the file behind the writer on another core. (Hashing each piece
/// on the receiving thread made sha256 and the socket take turns; waking the hasher for every
/// 16 KB piece cost more in futex calls than hashing saved; staging blocks in freshly allocated
/// memory cost fresh pages for every block.)
final class PartialFile: @unchecked Sendable {
    private let handle: FileHandle
    private let url: URL
    private let expected: ExpectedDigest
    /// Hashes the file from offset 0 once the answer says which bytes it keeps (sha256 ETags only).
    private var hasher: TrailingHasher?
    /// Bytes accepted: those in the file and those still in `pending`.
    private(set) var length: Int64
    /// A 206 that starts elsewhere than our length: the bytes cannot be appended.
    private(set) var rangeRejected = false
    /// Pieces not yet written, up to `pendingCapacity` bytes.
    private let pending: UnsafeMutableRawBufferPointer
    private var pendingCount = 0
    private static let pendingCapacity = 4 << 20

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
        pending = .allocate(byteCount: Self.pendingCapacity, alignment: 4096)
    }

    deinit {
        hasher?.cancel()
        pending.deallocate()
    }

    /// Decides what to do with the bytes already on disk once the answer's status is known.
    func begin(status: Int, contentRange: String?) throws {
        switch status {
        case 206:
            guard let start = Self.rangeStart(contentRange), start == length else {
                rangeRejected = true
                return
            }
            try startHashing()
        case 200..<300:
            pendingCount = 0
            try handle.truncate(atOffset: 0)
            length = 0
            try startHashing()
        default:
            break
        }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        if rangeRejected { return }
        guard let source = bytes.baseAddress, let buffer = pending.baseAddress, !bytes.isEmpty else { return }
        if pendingCount + bytes.count > Self.pendingCapacity { try flush() }
        length += Int64(bytes.count)
        if bytes.count >= Self.pendingCapacity {
            try writeOut(bytes)
        } else {
            (buffer + pendingCount).copyMemory(from: source, byteCount: bytes.count)
            pendingCount += bytes.count
        }
    }

    /// Writes what is pending; after it the file holds `length` bytes.
    func flush() throws {
        guard pendingCount > 0 else { return }
        let count = pendingCount
        pendingCount = 0
        try writeOut(UnsafeRawBufferPointer(rebasing: pending[0..<count]))
    }

    /// Writes what can still be written (the bytes of a cut transfer are kept for the resume)
    /// and closes the file. A failed write here leaves a shorter file, which the next attempt
    /// measures afresh.
    func close() {
        try? flush()
        try? handle.close()
    }

    /// Call after `close()`: the digest seen when it differs from the ETag's, else nil.
    func digestMismatch() throws -> String? {
        try DigestCheck.mismatch(expected, file: url, sha256: hasher?.finish())
    }

    /// Writes bytes that `length` already counts and are not pending.
    private func writeOut(_ bytes: UnsafeRawBufferPointer) throws {
        try Self.writeAll(handle.fileDescriptor, bytes, path: url.path)
        hasher?.advance(to: length - Int64(pendingCount))
    }

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

    private func startHashing() throws {
        hasher?.cancel()
        hasher = nil
        guard case .sha256 = expected else { return }
        hasher = try TrailingHasher(path: url.path, written: length)
    }

    /// `bytes 100-999/1000` → 100.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, header.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = header.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        return Int64(spec[..<dash].trimmingCharacters(in: .whitespaces))
    }
}
