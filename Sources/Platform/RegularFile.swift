import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a path that names an input file cannot be read as one. The message names the path; the
/// caller adds the flag or key it came from.
public struct RegularFileError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Problem: Equatable, Sendable {
        /// Nothing at the path.
        case missing
        /// Something that is not a regular file: a FIFO, a device, a socket, a folder.
        case notRegular(kind: String)
        /// It exists but cannot be opened or read (permission, I/O error).
        case unreadable(reason: String)
    }

    public var path: String
    public var problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// The problem without the path, for messages that name the path themselves.
    public var reason: String {
        switch problem {
        case .missing: "file not found"
        case let .notRegular(kind): "is \(kind), not a regular file"
        case let .unreadable(reason): reason
        }
    }

    public var description: String {
        switch problem {
        case .missing: "\(path): no such file"
        case let .notRegular(kind): "\(path) is \(kind), not a regular file"
        case let .unreadable(reason): "\(path): cannot read: \(reason)"
        }
    }
}

/// The one check every reader of an input file makes before opening it. A FIFO blocks its
/// reader until someone writes (two of them once held both threads of the coordinator's
/// cooperative pool), `/dev/zero` never ends, and a socket or a device is never data: so
/// anything but a regular file (after following symbolic links) is refused by name before it
/// is opened, and the read itself refuses a file swapped for one in between.
public enum RegularFile {
    /// Throws unless `path` names a regular file (symbolic links followed).
    public static func check(_ path: String) throws(RegularFileError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw RegularFileError(path: path, problem: .missing) }
            throw RegularFileError(path: path, problem: .unreadable(reason: String(cString: strerror(code))))
        }
        if let kind = kind(of: info.st_mode) { throw RegularFileError(path: path, problem: .notRegular(kind: kind)) }
    }

    /// Whether `path` exists and is a regular file, for callers that only ask.
    public static func isRegular(_ path: String) -> Bool {
        (try? check(path)) != nil
    }

    /// The whole file. The descriptor is opened non-blocking and checked again with `fstat`,
    /// so a FIFO put in the path's place after `check` still cannot block the reader.
    /// `maxBytes` bounds what is read (a file longer than it is refused, naming the limit).
    public static func read(_ path: String, maxBytes: Int = Int.max) throws(RegularFileError) -> Data {
        try check(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw RegularFileError(path: path, problem: code == ENOENT ? .missing : .unreadable(reason: String(cString: strerror(code))))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw RegularFileError(path: path, problem: .unreadable(reason: String(cString: strerror(errno))))
        }
        if let kind = kind(of: info.st_mode) { throw RegularFileError(path: path, problem: .notRegular(kind: kind)) }
        let size = Int(info.st_size)
        guard size <= maxBytes else {
            throw RegularFileError(path: path, problem: .unreadable(reason: "\(size) bytes, more than the \(maxBytes) allowed"))
        }
        var data = Data(count: size)
        var done = 0
        // A file that grows while read is read to the size it had: no unbounded reads.
        while done < size {
            let n = data.withUnsafeMutableBytes { raw in
                systemRead(fd, raw.baseAddress.map { $0 + done }, size - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw RegularFileError(path: path, problem: .unreadable(reason: String(cString: strerror(errno))))
            }
            if n == 0 { break }
            done += n
        }
        if done < size { data.count = done }
        return data
    }

    /// nil for a regular file, else what the mode says the thing is, as a message names it.
    static func kind(of mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a folder"
        default: "not a file"
        }
    }
}

/// `read(2)`, named apart from `RegularFile.read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}
