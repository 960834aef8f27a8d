import Crypto
import Foundation

/// sha256 of a file that is still being written, computed on a thread of its own that reads
/// what the writer has already put in the page cache (`pread`), from offset 0 up to the length
/// the writer reports. The thread receiving the download then only writes, as `curl -o` does,
/// and hashing runs on another core instead of taking turns with the socket. A resumed download's
/// existing bytes are hashed the same way, so they need no pass of their own before the
/// transfer starts.
final class TrailingHasher: @unchecked Sendable {
    /// Largest piece read and hashed at once: big enough that locking per piece costs nothing,
    /// small enough to stay in the cache between `pread` and sha256.
    private static let pieceSize = 4 << 20

    private let path: String
    private let descriptor: Int32
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var written: Int64 = 0
    private var noMore = false
    private var cancelled = false
    private var exited = false
    // Owned by the hashing thread until it exits, then read by `finish()`.
    private var sha = SHA256()
    private var hashed: Int64 = 0
    private var readError: String?

    /// Opens `path` for reading and starts hashing it; `written` bytes are already there.
    init(path: String, written: Int64) throws(HubError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .fileSystem(path: path, reason: "cannot open the partial download to hash it: \(String(cString: strerror(errno)))")
        }
        self.path = path
        descriptor = fd
        self.written = written
        let thread = Thread { [self] in run() }
        thread.name = "adaneg-sha256"
        thread.start()
    }

    deinit { close(descriptor) }

    /// The writer has put `length` bytes in the file; they may be hashed.
    func advance(to length: Int64) {
        condition.lock()
        written = length
        condition.signal()
        condition.unlock()
    }

    /// Waits until every byte written is hashed; the hex digest of the whole file.
    func finish() throws(HubError) -> String {
        stop(cancel: false)
        if let readError { throw .fileSystem(path: path, reason: "cannot read the download back to hash it: \(readError)") }
        return DigestCheck.hex(sha.finalize())
    }

    /// Stops hashing without waiting for the rest (the download failed or starts over).
    func cancel() { stop(cancel: true) }

    private func stop(cancel: Bool) {
        condition.lock()
        noMore = true
        if cancel { cancelled = true }
        condition.signal()
        while !exited { condition.wait() }
        condition.unlock()
    }

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.pieceSize, alignment: 4096)
        defer {
            buffer.deallocate()
            condition.lock()
            exited = true
            condition.broadcast()
            condition.unlock()
        }
        while true {
            condition.lock()
            while written == hashed && !noMore && !cancelled { condition.wait() }
            let target = written
            let stopNow = cancelled || (noMore && written == hashed)
            condition.unlock()
            if stopNow { return }
            while hashed < target {
                let want = Int(min(Int64(Self.pieceSize), target - hashed))
                let count = pread(descriptor, buffer.baseAddress, want, off_t(hashed))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    readError = count == 0 ? "the file ended at \(hashed) of \(target) bytes" : String(cString: strerror(errno))
                    return
                }
                sha.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                hashed += Int64(count)
            }
        }
    }
}
