import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An input as the checks compare it: its real path and its device and inode.
struct InputIdentity: Sendable {
    /// For messages: the path as given, or `FOLDER/FILE` for a file in a folder input.
    var given: String
    var flag: String
    var real: String
    var device: UInt64
    var inode: UInt64

    /// The inputs that exist (a missing input fails where it is read), each file directly in a
    /// folder input included.
    static func collect(_ inputs: [OutputTarget.Input]) -> [InputIdentity] {
        var identities = [InputIdentity]()
        for input in inputs {
            guard let identity = Self(input.path, flag: input.flag) else { continue }
            identities.append(identity)
            guard OutputTarget.isFolder(identity.real),
                  let entries = try? FileManager.default.contentsOfDirectory(atPath: identity.real) else { continue }
            for entry in entries {
                let given = (input.path as NSString).appendingPathComponent(entry)
                if let file = Self(given, flag: input.flag) { identities.append(file) }
            }
        }
        return identities
    }

    init?(_ path: String, flag: String) {
        var info = stat()
        guard !path.isEmpty, stat(path, &info) == 0, let real = OutputTarget.realPath(path) else { return nil }
        self.given = path
        self.flag = flag
        self.real = real
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
    }

    func isFile(_ info: stat) -> Bool { UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode }

    /// Whether this input is the folder `real` or lies inside it.
    func isInside(_ folder: String) -> Bool { real == folder || real.hasPrefix(folder == "/" ? "/" : folder + "/") }
}

/// What is at a folder output's path now.
enum FolderState: Equatable {
    case absent
    case empty
    /// A previous output of the same command; `files`, its entries (the manifest included),
    /// each a regular file the manifest lists: what replacing it removes.
    case ours(files: [String])
}

/// The `manifest.json` of a folder output: `written_by` names the command, `files` what it wrote.
/// A command may put its own fields in it too (mining's cache key); they are kept.
enum FolderManifest {
    static func read(_ path: String) -> (writer: String, files: [String])? {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let writer = object["written_by"] as? String, let files = object["files"] as? [String] else { return nil }
        return (writer, files)
    }

    /// Adds `written_by` and `files` (what `folder` holds now, and `extraFiles`) to the manifest
    /// the command wrote, or writes one.
    static func complete(in folder: String, writer: String, extraFiles: [String], path: String, flag: String) throws(OutputError) {
        let manifest = folder + "/" + OutputTarget.manifestName
        var object = [String: Any]()
        if let data = FileManager.default.contents(atPath: manifest) {
            guard let existing = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw .unwritable(path: path, flag: flag, reason: "the manifest written is not a JSON object")
            }
            object = existing
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .unwritable(path: path, flag: flag, reason: OutputTarget.reason(error))
        }
        object["written_by"] = writer
        object["files"] = Array(Set(entries + extraFiles).subtracting([OutputTarget.manifestName])).sorted()
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: manifest))
        } catch {
            throw .unwritable(path: path, flag: flag, reason: OutputTarget.reason(error))
        }
    }
}

extension OutputTarget {
    /// The absolute path a file output writes: the file a symbolic link points at, or the
    /// resolved folder plus the new name. The folder must exist.
    static func resolveFile(_ path: String, flag: String) throws(OutputError) -> String {
        if path.hasSuffix("/") { throw .isFolder(path: path, flag: flag) }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard let real = realPath(path) else { throw .notRegular(path: path, flag: flag, what: "a symbolic link to nothing") }
            return real
        }
        guard errno == ENOENT else { throw .unwritable(path: path, flag: flag, reason: lastError()) }
        let given = (path as NSString).deletingLastPathComponent
        let parent = given.isEmpty ? "." : given
        guard let real = realPath(parent), isFolder(real) else { throw .missingFolder(path: path, flag: flag, folder: parent) }
        return (real == "/" ? "" : real) + "/" + (path as NSString).lastPathComponent
    }

    /// The absolute path of a folder output: resolved as far as it exists, the rest appended.
    static func resolveFolder(_ path: String, flag: String) throws(OutputError) -> String {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard let real = realPath(path) else { throw .notAFolder(path: path, flag: flag, what: "a symbolic link to nothing") }
            return real
        }
        guard errno == ENOENT else { throw .unwritable(path: path, flag: flag, reason: lastError()) }
        var existing = URL(fileURLWithPath: path)
        var missing = [String]()
        while lstat(existing.path, &info) != 0, existing.path != "/" {
            missing.insert(existing.lastPathComponent, at: 0)
            existing = existing.deletingLastPathComponent()
        }
        guard let real = realPath(existing.path) else { throw .notAFolder(path: path, flag: flag, what: "under a symbolic link to nothing") }
        guard isFolder(real) else { throw .notAFolder(path: path, flag: flag, what: "under \(existing.path), which is not a folder") }
        return ((real as NSString).appendingPathComponent(missing.joined(separator: "/")) as NSString).standardizingPath
    }

    /// Refuses a file output that would replace a folder, a non-regular file, a file of another
    /// kind or an input.
    func checkFile() throws(OutputError) {
        guard case let .file(replaceable) = kind else { return }
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            if errno == ENOENT { return }
            throw .unwritable(path: path, flag: flag, reason: Self.lastError())
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw .isFolder(path: path, flag: flag) }
        if type != S_IFREG { throw .notRegular(path: path, flag: flag, what: Self.describe(type)) }
        if let input = inputs.first(where: { $0.isFile(info) || $0.real == resolved }) {
            throw .isInput(path: path, flag: flag, input: input.given, inputFlag: input.flag)
        }
        guard let head = Self.head(resolved) else {
            throw .otherKind(path: path, flag: flag, expected: replaceable.kind + " (it cannot be read to tell)")
        }
        if !replaceable.accepts(head) { throw .otherKind(path: path, flag: flag, expected: replaceable.kind) }
    }

    /// What is at a folder output's path, refusing anything it may not replace.
    func folderState() throws(OutputError) -> FolderState {
        guard case let .folder(writer, _) = kind else { return .absent }
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            if errno == ENOENT { return .absent }
            throw .unwritable(path: path, flag: flag, reason: Self.lastError())
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .notAFolder(path: path, flag: flag, what: Self.describe(info.st_mode & S_IFMT)) }
        if let input = inputs.first(where: { $0.isInside(resolved) || $0.isFile(info) }) {
            throw .holdsInput(path: path, flag: flag, input: input.given, inputFlag: input.flag)
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: resolved).sorted() } catch {
            throw .unwritable(path: path, flag: flag, reason: Self.reason(error))
        }
        if entries.isEmpty { return .empty }
        // A hard link to an input among the entries.
        for entry in entries {
            var entryInfo = stat()
            guard stat(resolved + "/" + entry, &entryInfo) == 0 else { continue }
            if let input = inputs.first(where: { $0.isFile(entryInfo) }) {
                throw .holdsInput(path: path, flag: flag, input: input.given, inputFlag: input.flag)
            }
        }
        guard let manifest = FolderManifest.read(resolved + "/" + Self.manifestName), manifest.writer == writer else {
            throw .foreignFolder(path: path, flag: flag, writer: writer, entries: entries)
        }
        let listed = Set(manifest.files + [Self.manifestName])
        let unknown = entries.filter { entry in
            var entryInfo = stat()
            return !listed.contains(entry) || lstat(resolved + "/" + entry, &entryInfo) != 0 || entryInfo.st_mode & S_IFMT != S_IFREG
        }
        if !unknown.isEmpty { throw .foreignFiles(path: path, flag: flag, writer: writer, files: unknown) }
        return .ours(files: entries)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isFolder(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// The first 4 KiB of a regular file, nil when it cannot be read.
    static func head(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4096)) ?? Data()
    }

    /// What a mode says the thing is, worded as `RegularFile` (the input check) words it.
    static func describe(_ type: mode_t) -> String { RegularFile.kind(of: type) ?? "a regular file" }
}

/// Why an output cannot be written where it was asked to go; each message names the path and
/// the flag.
public enum OutputError: Error, CustomStringConvertible, Equatable {
    case empty(flag: String)
    case isFolder(path: String, flag: String)
    case notRegular(path: String, flag: String, what: String)
    case otherKind(path: String, flag: String, expected: String)
    case missingFolder(path: String, flag: String, folder: String)
    case isInput(path: String, flag: String, input: String, inputFlag: String)
    case holdsInput(path: String, flag: String, input: String, inputFlag: String)
    case notAFolder(path: String, flag: String, what: String)
    case foreignFolder(path: String, flag: String, writer: String, entries: [String])
    case foreignFiles(path: String, flag: String, writer: String, files: [String])
    case unwritable(path: String, flag: String, reason: String)

    public var description: String {
        switch self {
        case let .empty(flag):
            "\(flag) is empty: give a path"
        case let .isFolder(path, flag):
            "\(flag) '\(path)' is a folder; \(flag) takes a file path (for example \((path as NSString).appendingPathComponent("NAME")))"
        case let .notRegular(path, flag, what):
            "\(flag) '\(path)' is \(what), not a regular file: adaneg writes its outputs only to regular files"
        case let .otherKind(path, flag, expected):
            "\(flag) '\(path)' already exists and is not \(expected); adaneg replaces only a previous output of the same kind: remove the file or choose another path"
        case let .missingFolder(path, flag, folder):
            "\(flag) '\(path)': the folder '\(folder)' does not exist"
        case let .isInput(path, flag, input, inputFlag):
            "\(flag) '\(path)' is the input given as \(inputFlag) ('\(input)'): writing it would destroy the input; choose another path"
        case let .holdsInput(path, flag, input, inputFlag):
            "\(flag) '\(path)' holds the input given as \(inputFlag) ('\(input)'): writing the folder would destroy the input; choose another folder"
        case let .notAFolder(path, flag, what):
            "\(flag) '\(path)' is \(what), not a folder; \(flag) takes a folder"
        case let .foreignFolder(path, flag, writer, entries):
            "\(flag) '\(path)' is a folder that \(writer) did not write (it holds \(Self.list(entries)) and no \(OutputTarget.manifestName) of \(writer)); adaneg never replaces what it did not create: give a new or empty folder (an output of an adaneg without manifests: remove it yourself)"
        case let .foreignFiles(path, flag, writer, files):
            "\(flag) '\(path)' was written by \(writer) but also holds \(Self.list(files)), which it did not write; adaneg never replaces what it did not create: move them away or give another folder"
        case let .unwritable(path, flag, reason):
            "\(flag) '\(path)': cannot write: \(reason)"
        }
    }

    /// Up to three names, quoted, and how many more.
    static func list(_ names: [String]) -> String {
        let shown = names.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > 3 ? "\(shown) and \(names.count - 3) more" : shown
    }
}
