import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory `flock` on a file: the one lock wrapper of adaneg. The database's
/// writer lock (`DatabaseLock`), the Hugging Face cache's blob locks (`CacheLock`) and the
/// converted-weights cache all take theirs through it. Why `flock`: the kernel drops it with
/// the last descriptor, so a process killed with `kill -9` never leaves a stale lock. The file
/// is opened with `O_CLOEXEC` (a worker process started meanwhile must not inherit the lock) and
/// closed, releasing the lock, when the value is released.
public final class FileLock: @unchecked Sendable {
    /// Why a lock was not taken.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The lock file could not be opened or created.
        case unopenable(path: String, reason: String)
        /// Another process holds the lock (only when not waiting for it).
        case held(path: String)
        case unlockable(path: String, reason: String)

        public var description: String {
            switch self {
            case let .unopenable(path, reason): "cannot open the lock file \(path): \(reason)"
            case let .held(path): "\(path) is locked by another process"
            case let .unlockable(path, reason): "cannot lock \(path): \(reason)"
            }
        }
    }

    public let path: String
    /// The open lock file (for the holder's own record in it, as `DatabaseLock` writes).
    public let descriptor: Int32

    /// Opens (creating) `path`, without locking it yet.
    public init(path: String) throws(Failure) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unopenable(path: path, reason: String(cString: strerror(errno))) }
        self.path = path
        descriptor = fd
    }

    /// Takes the lock: waiting for it, or failing at once with `.held` when another process
    /// holds it (`wait: false`). A signal while waiting does not end the wait.
    public func acquire(wait: Bool) throws(Failure) {
        var result: Int32
        repeat { result = flock(descriptor, wait ? LOCK_EX : LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let code = errno
            if code == EWOULDBLOCK { throw .held(path: path) }
            throw .unlockable(path: path, reason: String(cString: strerror(code)))
        }
    }

    /// Opens `path` and waits for its lock.
    public static func waiting(on path: String) throws(Failure) -> FileLock {
        let lock = try FileLock(path: path)
        try lock.acquire(wait: true)
        return lock
    }

    /// Releases the lock now, before the value goes (closing its file releases it too).
    public func release() {
        _ = flock(descriptor, LOCK_UN)
    }

    deinit {
        // Closing the descriptor releases the lock.
        close(descriptor)
    }
}
