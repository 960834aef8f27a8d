import JobProtocol
import Foundation
import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an input file a job recorded at submission cannot be used as recorded. The message names
/// the file, so a user with several sets knows which one moved.
public enum InputFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Its content is not the content recorded when the job was submitted.
    case changed(path: String, recorded: ArtefactDigest, found: ArtefactDigest)
    /// It cannot be read any more (gone, a FIFO in its place, no permission).
    case unreadable(path: String, reason: String)

    public var path: String {
        switch self {
        case let .changed(path, _, _), let .unreadable(path, _): path
        }
    }

    public var description: String {
        switch self {
        case let .changed(path, recorded, found):
            "\(path) changed since submission (\(recorded.bytes) bytes, sha256 \(recorded.sha256.prefix(16))… when the job was submitted; now \(found.bytes) bytes"
                + (ArtefactDigest.isSHA256(found.sha256) ? ", sha256 \(found.sha256.prefix(16))…" : "")
                + "): put the original back, or submit the new data as a new job"
        case let .unreadable(path, reason):
            "\(path) cannot be read to check it against the content recorded at submission: \(reason)"
        }
    }
}

/// What identifies one version of a file without reading it: device, inode, size and the
/// modification and status-change times. Rewriting a file in place changes its times (the
/// status-change time cannot be set back by `touch`), replacing it changes its inode.
public struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    public var size: Int
    var modified: Int64
    var changed: Int64

    /// The identity of the regular file at `path` (symbolic links followed).
    public static func of(_ path: String) throws(InputFileError) -> FileIdentity {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            throw .unreadable(path: path, reason: code == ENOENT ? "no such file" : String(cString: strerror(code)))
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .unreadable(path: path, reason: "not a regular file") }
        #if canImport(Darwin)
        let (m, c) = (info.st_mtimespec, info.st_ctimespec)
        #else
        let (m, c) = (info.st_mtim, info.st_ctim)
        #endif
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int(info.st_size),
                            modified: Int64(m.tv_sec) &* 1_000_000_000 &+ Int64(m.tv_nsec),
                            changed: Int64(c.tv_sec) &* 1_000_000_000 &+ Int64(c.tv_nsec))
    }
}

/// The content digests of the input files this process reads, each file hashed once per
/// version. Hashing is a full read (about a second for a 60,000 × 512 float32 file, see
/// BENCHMARKS.md), so a digest is remembered under the file's `FileIdentity`: a later check of
/// the same version is one `stat`, and only a file that was rewritten or replaced is hashed
/// again. Every reader of a job's inputs checks through the one shared instance: the
/// coordinator's leases and bank reloads, a worker reading its own copy, rescore, the report's
/// sequential re-score.
public final class InputDigests: @unchecked Sendable {
    public static let shared = InputDigests()

    private let lock = NSLock()
    private var known: [String: (identity: FileIdentity, digest: ArtefactDigest)] = [:]
    /// One hash of a path at a time: concurrent checks of a file not yet hashed wait for the
    /// first instead of reading it again.
    private var hashing: [String: NSLock] = [:]
    private var hashed = 0

    /// How many times a file was read to hash it (tests and benchmarks: never once per lease).
    public var filesHashed: Int { lock.withLock { hashed } }

    public init() {}

    /// The digest of `path` as the file is now: remembered, or hashed on the calling thread.
    public func digest(of path: String) throws(InputFileError) -> ArtefactDigest {
        let identity = try FileIdentity.of(path)
        if let digest = remembered(path, identity) { return digest }
        let pathLock = lock.withLock { () -> NSLock in
            if let l = hashing[path] { return l }
            let l = NSLock()
            hashing[path] = l
            return l
        }
        pathLock.lock()
        defer { pathLock.unlock() }
        if let digest = remembered(path, try FileIdentity.of(path)) { return digest }
        let digest: ArtefactDigest
        lock.withLock { hashed += 1 }
        do {
            digest = try ArtefactDigest.of(file: path)
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        // Remembered only when the file did not change while it was read.
        if let after = try? FileIdentity.of(path), after == identity, after.size == digest.bytes {
            lock.withLock { known[path] = (identity, digest) }
        }
        return digest
    }

    /// Whether `path` holds `recorded` now; throws `.changed` naming the file when it does not.
    /// Hashes on the calling thread when this version of the file was not hashed before.
    public func verifyNow(_ path: String, recorded: ArtefactDigest) throws(InputFileError) {
        // A size that moved needs no hash.
        let identity = try FileIdentity.of(path)
        if identity.size != recorded.bytes {
            throw .changed(path: path, recorded: recorded, found: remembered(path, identity) ?? ArtefactDigest(sha256: "", bytes: identity.size))
        }
        let found = try digest(of: path)
        guard found == recorded else { throw .changed(path: path, recorded: recorded, found: found) }
    }

    /// `verifyNow` for async callers: a file not hashed yet is hashed on `BlockingIO`'s threads, so
    /// neither an actor nor the cooperative pool waits on the read; a remembered one costs a `stat`.
    public func verify(_ path: String, recorded: ArtefactDigest) async throws(InputFileError) {
        if let identity = try? FileIdentity.of(path), identity.size == recorded.bytes, let digest = remembered(path, identity) {
            guard digest == recorded else { throw .changed(path: path, recorded: recorded, found: digest) }
            return
        }
        try await BlockingIO.run { () throws(InputFileError) in try self.verifyNow(path, recorded: recorded) }
    }

    /// Each of `files` checked against its recorded digest: the first that differs.
    public func verify(_ files: [(path: String, digest: ArtefactDigest)]) async throws(InputFileError) {
        for file in files { try await verify(file.path, recorded: file.digest) }
    }

    /// Each of `files` checked, on the calling thread.
    public func verifyNow(_ files: [(path: String, digest: ArtefactDigest)]) throws(InputFileError) {
        for file in files { try verifyNow(file.path, recorded: file.digest) }
    }

    private func remembered(_ path: String, _ identity: FileIdentity) -> ArtefactDigest? {
        lock.withLock {
            guard let entry = known[path], entry.identity == identity else { return nil }
            return entry.digest
        }
    }
}
