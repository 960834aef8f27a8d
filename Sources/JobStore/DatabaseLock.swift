import Foundation
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Who writes a database: what a refused second writer is told.
public struct DatabaseOwner: Codable, Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var host: String
    public var command: String
    /// Seconds since 1970 when it took the database.
    public var since: Double

    /// This process.
    public static var current: DatabaseOwner {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "unknown host"
        let command = CommandLine.arguments.joined(separator: " ")
        return DatabaseOwner(pid: getpid(), host: host, command: String(command.prefix(300)),
                             since: Date().timeIntervalSince1970)
    }

    public var description: String {
        let started = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: since))
        return "pid \(pid) on host \(host), since \(started): \(command)"
    }
}

/// The exclusive right to write one database: an advisory `flock` on the side file
/// `<database>.lock`, which holds the owner (pid, host, command) as JSON for the message a
/// second writer gets.
///
/// Why a lock at all: two coordinators on one database (two `serve`s, two `run`s, `rescore`
/// during `serve`) would each keep their own memory banks and bank versions in memory and
/// interleave their writes, so the stored banks diverge (issue 22). Why `flock` on a side file:
/// the kernel drops it with the last descriptor, so a `kill -9`ed coordinator never leaves a
/// stale lock and a restart takes the database at once; SQLite's own locks live on the database
/// file (as `fcntl` locks, which `flock` does not touch) and readers (`report --db`,
/// `status --db`) never look at the side file, so they are never blocked. The file is left in
/// place on release: removing it would let a waiting writer lock a file that a third one no
/// longer sees.
///
/// The lock is per process: a second `StoreWriter` on the same database in one process (a
/// test simulating a restart, `demo` holding its database while it runs two jobs) shares the
/// process's lock. Separate processes always exclude each other.
public final class DatabaseLock: Sendable {
    /// The file locked.
    public let path: String
    private let key: FileKey

    private struct FileKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// The process's held locks, by the lock file's identity, with their holders' count.
    private static let held = Mutex<[FileKey: (lock: FileLock, count: Int)]>([:])

    /// The side file that locks `databasePath`: next to the database's real path, so every
    /// name of one database (a symbolic link, `dir/../db.sqlite`, a relative path) locks the
    /// same file.
    public static func lockPath(for databasePath: String) -> String { resolved(databasePath) + ".lock" }

    /// `path` with links and `..` resolved; a file not created yet is resolved through its folder.
    static func resolved(_ path: String) -> String {
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let url = URL(fileURLWithPath: path)
        guard let folder = realpath(url.deletingLastPathComponent().path, nil) else { return path }
        defer { free(folder) }
        return String(cString: folder) + "/" + url.lastPathComponent
    }

    /// Takes the database at once or throws `.inUse` naming the process that holds it. Never
    /// waits: a second coordinator must fail immediately, not queue behind the first.
    public init(databasePath: String) throws(StoreError) {
        let path = Self.lockPath(for: databasePath)
        self.path = path
        let file: FileLock
        do { file = try FileLock(path: path) } catch { throw .database(path: databasePath, message: error.description) }
        var info = stat()
        guard fstat(file.descriptor, &info) == 0 else {
            throw .database(path: databasePath, message: "cannot read its lock file \(path): \(String(cString: strerror(errno)))")
        }
        let key = FileKey(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        self.key = key
        let outcome: Result<Void, StoreError> = Self.held.withLock { held in
            if let entry = held[key] {
                held[key] = (entry.lock, entry.count + 1)
                return .success(())
            }
            do throws(FileLock.Failure) {
                try file.acquire(wait: false)
            } catch .held {
                return .failure(.inUse(path: databasePath, owner: Self.readOwner(file.descriptor)))
            } catch {
                return .failure(.database(path: databasePath, message: error.description))
            }
            Self.writeOwner(file.descriptor)
            held[key] = (file, 1)
            return .success(())
        }
        try outcome.get()
    }

    deinit {
        Self.held.withLock { held in
            guard let entry = held[key] else { return }
            // The last holder drops the `FileLock`, whose descriptor's close releases the lock;
            // the owner text stays as a record of the last writer but means nothing without it.
            held[key] = entry.count > 1 ? (entry.lock, entry.count - 1) : nil
        }
    }

    /// Records this process as the owner. Best effort: on a full disk the lock still holds and
    /// a refused writer is told the holder is unknown.
    private static func writeOwner(_ fd: Int32) {
        guard ftruncate(fd, 0) == 0, let data = try? JSONEncoder().encode(DatabaseOwner.current) else { return }
        _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The owner the holder recorded; nil if it has not written it yet or the file is damaged.
    private static func readOwner(_ fd: Int32) -> DatabaseOwner? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        // The holder writes its owner right after it takes the lock: a refusal in between
        // would read an empty file, so look a few times within a few milliseconds.
        for _ in 0..<20 {
            let count = pread(fd, &buffer, buffer.count, 0)
            if count > 0, let owner = try? JSONDecoder().decode(DatabaseOwner.self, from: Data(buffer[0..<count])) {
                return owner
            }
            usleep(1000)
        }
        return nil
    }
}
