import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command writes its output, and the one policy every writer follows (issue 22):
/// nothing the command did not create is ever deleted or overwritten, and no output is, holds
/// or resolves to one of the command's inputs.
///
/// - A file output (`embed-images --out X.npy`, `report --out F`) is written to a temporary
///   name in the same folder and renamed into place. It may replace a regular file of the same
///   kind (a previous run's output: re-running a command must keep working), never a folder,
///   a FIFO, a device, a socket, a file of another kind or an input.
/// - A folder output (`mine-negatives --out DIR`, `synthesize --out DIR`, `demo --dir DIR`) is
///   built in a temporary folder next to it and renamed into place. It may replace only a
///   folder the same command wrote (recognised by its `manifest.json`, and holding nothing the
///   manifest does not list) or an empty folder; a folder with anything else in it is refused.
/// - Inputs are compared by resolved real path and, where the output exists, by device and
///   inode, so a symbolic link, a hard link or `..` cannot make an output replace an input.
///
/// Checked twice: when the command starts (before any long computation) and again right before
/// the rename, in case the path changed meanwhile.
public struct OutputTarget: Sendable {
    /// What the command reads: an output may never be, or hold, one of these.
    public struct Input: Sendable {
        public var path: String
        public var flag: String

        /// `path` as given to `flag`. A folder input (a model folder) protects itself and every
        /// file directly in it.
        public init(_ path: String, flag: String) {
            self.path = path
            self.flag = flag
        }
    }

    /// Which existing files a file output may replace, judged from their first bytes.
    public struct Replaceable: Sendable {
        /// "a .npy file", for the message when an existing file is of another kind.
        public var kind: String
        public var accepts: @Sendable (_ head: Data) -> Bool

        public init(kind: String, accepts: @escaping @Sendable (_ head: Data) -> Bool) {
            self.kind = kind
            self.accepts = accepts
        }

        /// An empty file or a `.npy` file (its magic string).
        public static let npy = Replaceable(kind: "a .npy file") { $0.isEmpty || $0.starts(with: [0x93] + Array("NUMPY".utf8)) }

        /// An empty file or a text file: no NUL byte in its first 4 KiB (so never a database,
        /// a `.npy` or model weights).
        public static let text = Replaceable(kind: "a text file") { !$0.contains(0) }

        /// An empty file or a text file whose first line is `header`.
        public static func text(header: String) -> Replaceable {
            Replaceable(kind: "a file starting with the line \"\(header)\"") { $0.isEmpty || $0.starts(with: Array((header + "\n").utf8)) }
        }
    }

    /// The manifest a folder output carries, naming the command that wrote it.
    public static let manifestName = "manifest.json"

    public enum Kind: Sendable {
        case file(Replaceable)
        /// `writer` names the command ("adaneg mine-negatives"); `extraFiles` are files the
        /// command adds after the folder is in place (demo's database).
        case folder(writer: String, extraFiles: [String])
    }

    /// The path as given, for messages.
    public let path: String
    /// The flag it was given to.
    public let flag: String
    /// The absolute path written: symbolic links and `..` resolved.
    public let resolved: String
    public let kind: Kind
    let inputs: [InputIdentity]

    /// Checks a file output; throws when writing it would replace something it must not.
    public static func file(_ path: String, flag: String, replacing: Replaceable, inputs: [Input] = []) throws(OutputError) -> OutputTarget {
        guard !path.isEmpty else { throw .empty(flag: flag) }
        let identities = InputIdentity.collect(inputs)
        let resolved = try resolveFile(path, flag: flag)
        let target = OutputTarget(path: path, flag: flag, resolved: resolved, kind: .file(replacing), inputs: identities)
        try target.checkFile()
        return target
    }

    /// Checks a folder output; throws when writing it would replace something it must not.
    public static func folder(_ path: String, flag: String, writer: String, extraFiles: [String] = [],
                              inputs: [Input] = []) throws(OutputError) -> OutputTarget {
        guard !path.isEmpty else { throw .empty(flag: flag) }
        let identities = InputIdentity.collect(inputs)
        let resolved = try resolveFolder(path, flag: flag)
        let target = OutputTarget(path: path, flag: flag, resolved: resolved, kind: .folder(writer: writer, extraFiles: extraFiles),
                                  inputs: identities)
        _ = try target.folderState()
        return target
    }
}

// MARK: - Writing

extension OutputTarget {
    /// Writes `data` to a temporary file next to the target and renames it into place.
    public func write(_ data: Data) throws(OutputError) {
        let folder = (resolved as NSString).deletingLastPathComponent
        let name = (resolved as NSString).lastPathComponent
        let temporary = try Self.createTemporary(in: folder, name: name, path: path, flag: flag) { temp in
            open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        }
        do throws(OutputError) {
            defer { close(temporary.descriptor) }
            try Self.writeAll(data, to: temporary.descriptor, path: path, flag: flag)
            var existing = stat()
            if stat(resolved, &existing) == 0 { fchmod(temporary.descriptor, existing.st_mode & 0o7777) }
        } catch {
            unlink(temporary.path)
            throw error
        }
        do throws(OutputError) {
            try checkFile()
            if rename(temporary.path, resolved) != 0 { throw OutputError.unwritable(path: path, flag: flag, reason: Self.lastError()) }
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// Builds the folder: `body` fills a fresh temporary folder next to the target, the
    /// manifest is completed, and the folder is renamed into place (a previous output of the same
    /// command is set aside and then removed file by file, only the files its manifest lists).
    public func writeFolder(_ body: (_ folder: String) throws -> Void) throws {
        guard case let .folder(writer, extraFiles) = kind else { preconditionFailure("writeFolder on a file output") }
        let parent = (resolved as NSString).deletingLastPathComponent
        let name = (resolved as NSString).lastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw OutputError.unwritable(path: path, flag: flag, reason: "cannot create the folder \(parent): \(Self.reason(error))")
        }
        let temporary = try Self.createTemporary(in: parent, name: name, path: path, flag: flag) { mkdir($0, 0o777) == 0 ? 0 : -1 }
        do {
            try body(temporary.path)
            try FolderManifest.complete(in: temporary.path, writer: writer, extraFiles: extraFiles, path: path, flag: flag)
            try commitFolder(temporary.path, parent: parent, name: name)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary.path)
            throw error
        }
    }

    private func commitFolder(_ temporary: String, parent: String, name: String) throws(OutputError) {
        switch try folderState() {
        case .absent, .empty:
            // rename(2) onto an empty folder replaces it; onto one that is no longer empty it fails.
            if rename(temporary, resolved) != 0 { throw .unwritable(path: path, flag: flag, reason: Self.lastError()) }
        case let .ours(files):
            let aside = Self.freeName(in: parent, name: name, role: "old")
            if rename(resolved, aside) != 0 { throw .unwritable(path: path, flag: flag, reason: Self.lastError()) }
            if rename(temporary, resolved) != 0 {
                let reason = Self.lastError()
                rename(aside, resolved)
                throw .unwritable(path: path, flag: flag, reason: reason)
            }
            // Only the entries checked above (each one listed by the manifest, each a regular
            // file); anything that appeared since keeps the old folder in place.
            for file in files { unlink(aside + "/" + file) }
            rmdir(aside)
        }
    }

    /// A new file or folder named `.NAME.adaneg-tmp-PID-RANDOM` in `folder`, created
    /// exclusively by `create` (a descriptor, or 0 for a folder; -1 with errno on failure), so no
    /// existing file is ever reused or removed.
    static func createTemporary(in folder: String, name: String, path: String, flag: String,
                                create: (String) -> Int32) throws(OutputError) -> (path: String, descriptor: Int32) {
        for _ in 0..<16 {
            let candidate = freeName(in: folder, name: name, role: "tmp")
            let descriptor = create(candidate)
            if descriptor >= 0 { return (candidate, descriptor) }
            if errno != EEXIST { throw .unwritable(path: path, flag: flag, reason: "cannot create a file in \(folder): \(lastError())") }
        }
        throw .unwritable(path: path, flag: flag, reason: "no free temporary name in \(folder)")
    }

    /// A name in `folder` that nothing has: `.NAME.adaneg-ROLE-PID-RANDOM`.
    static func freeName(in folder: String, name: String, role: String) -> String {
        while true {
            let candidate = folder + "/." + name + ".adaneg-\(role)-\(getpid())-" + String(UInt32.random(in: .min ... .max), radix: 16)
            var info = stat()
            if lstat(candidate, &info) != 0 { return candidate }
        }
    }

    static func writeAll(_ data: Data, to descriptor: Int32, path: String, flag: String) throws(OutputError) {
        let failed: String? = data.withUnsafeBytes { raw -> String? in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return lastError()
                }
                offset += n
            }
            return nil
        }
        if let failed { throw .unwritable(path: path, flag: flag, reason: failed) }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// Why a Foundation file operation failed, in the system's words ("Not a directory",
    /// "Permission denied"), not Foundation's generic "The operation could not be completed".
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.localizedFailureReason ?? ns.localizedDescription
    }
}
