import Foundation
import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One image of a set: where to fetch it and its label.
public struct ImageListEntry: Sendable, Equatable {
    /// A path relative to the data root (or to the class-folder root), or a `file://` /
    /// `http(s)://` URL.
    public var reference: String
    /// The ID class index; −1 for OOD.
    public var label: Int

    public init(reference: String, label: Int) {
        self.reference = reference
        self.label = label
    }
}

/// OpenOOD image lists: `relative/path label` per line.
///
/// As in OpenOOD, the first whitespace-separated token is the path and the rest is the label, so
/// paths cannot contain spaces. Blank lines and lines starting with `#` are skipped; CRLF line
/// endings and a UTF-8 byte-order mark are accepted. A line without a label takes `defaultLabel`
/// (pass −1 for OOD lists, nil to require labels).
public enum ImageList {
    /// How many malformed lines one file reports before summarising the rest.
    public static let maxReportedLines = 20

    public static func read(path: String, defaultLabel: Int?) throws(JobSpecError) -> [ImageListEntry] {
        let data: Data
        do {
            data = try RegularFile.read(path)
        } catch {
            throw JobSpecError(file: path, problems: [JobSpecProblem(path: "", message: "cannot read image list: \(error)", file: path)])
        }
        return try parse(data, file: path, defaultLabel: defaultLabel)
    }

    /// Parses list text; `file` labels the problems.
    public static func parse(_ data: Data, file: String, defaultLabel: Int?) throws(JobSpecError) -> [ImageListEntry] {
        var entries = [ImageListEntry]()
        var problems = [JobSpecProblem]()
        var malformed = 0
        func fail(_ line: Int, _ message: String) {
            malformed += 1
            if malformed <= maxReportedLines {
                problems.append(JobSpecProblem(path: "", line: line, message: message, file: file))
            }
        }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            let n = bytes.count
            var start = n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0
            var lineNumber = 0
            while start < n {
                lineNumber += 1
                var end = start
                while end < n && bytes[end] != 0x0A { end += 1 }
                defer { start = end + 1 }
                // Up to three whitespace-separated tokens (a third one is an error).
                var tokens: [(Int, Int)] = []
                var i = start
                while i < end && tokens.count < 3 {
                    while i < end && isSpace(bytes[i]) { i += 1 }
                    if i == end { break }
                    let t = i
                    while i < end && !isSpace(bytes[i]) { i += 1 }
                    tokens.append((t, i))
                }
                guard let first = tokens.first, bytes[first.0] != UInt8(ascii: "#") else { continue }
                let text = { (r: (Int, Int)) in String(decoding: UnsafeBufferPointer(rebasing: bytes[r.0..<r.1]), as: UTF8.self) }
                let lineText = { () -> String in
                    let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[first.0..<max(first.0, tokens.last!.1)]), as: UTF8.self)
                    return s.count > 80 ? String(s.prefix(80)) + "…" : s
                }
                guard let path = String(validating: UnsafeBufferPointer(rebasing: bytes[first.0..<first.1]), as: UTF8.self) else {
                    fail(lineNumber, "the line is not valid UTF-8")
                    continue
                }
                let label: Int
                switch tokens.count {
                case 1:
                    guard let defaultLabel else {
                        fail(lineNumber, "malformed line '\(lineText())': expected 'relative/path label' (no label)")
                        continue
                    }
                    label = defaultLabel
                case 2:
                    guard let n = Int(text(tokens[1])) else {
                        fail(lineNumber, "malformed line '\(lineText())': the label '\(text(tokens[1]))' is not an integer")
                        continue
                    }
                    guard n >= -1 else {
                        fail(lineNumber, "malformed line '\(lineText())': label \(n) is negative (use -1 for OOD)")
                        continue
                    }
                    label = n
                default:
                    fail(lineNumber, "malformed line '\(lineText())…': expected 'relative/path label', found 3 or more fields (paths cannot contain spaces)")
                    continue
                }
                entries.append(ImageListEntry(reference: path, label: label))
            }
        }
        if malformed > maxReportedLines {
            problems.append(JobSpecProblem(path: "", message: "\(malformed - maxReportedLines) more malformed lines not shown (\(malformed) in all)", file: file))
        }
        if problems.isEmpty && entries.isEmpty {
            problems.append(JobSpecProblem(path: "", message: "the image list has no entries", file: file))
        }
        guard problems.isEmpty else { throw JobSpecError(file: file, problems: problems) }
        return entries
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0B || b == 0x0C }

}

/// A folder per class (torchvision `ImageFolder` layout): `root/<class>/**/<image>`.
public enum ImageFolders {
    /// File extensions counted as images (compared case-insensitively).
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp", "gif"]

    /// The class folders in sorted order (their index is the class label) and every image below
    /// them, references relative to `root` (`class/sub/file.jpg`), sorted within each class.
    /// Hidden files and folders are skipped.
    public static func read(root: String) throws(JobSpecError) -> (classes: [String], entries: [ImageListEntry]) {
        let fm = FileManager.default
        func failure(_ message: String) -> JobSpecError {
            JobSpecError(file: root, problems: [JobSpecProblem(path: "", message: message, file: root)])
        }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory) else { throw failure("folder does not exist") }
        guard isDirectory.boolValue else { throw failure("not a folder (a folder per class was expected)") }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: root) } catch { throw failure("cannot list folder: \(reason(error))") }
        let classes = names.filter { name in
            var dir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root + "/" + name, isDirectory: &dir) && dir.boolValue
        }.sorted(by: pythonOrder)
        guard !classes.isEmpty else { throw failure("no class folders inside") }
        var entries = [ImageListEntry]()
        for (label, name) in classes.enumerated() {
            var files = [String]()
            collect(root + "/" + name, relative: name, into: &files, depth: 0)
            for file in files.sorted(by: pythonOrder) { entries.append(ImageListEntry(reference: file, label: label)) }
        }
        guard !entries.isEmpty else { throw failure("the class folders hold no images (\(imageExtensions.sorted().joined(separator: ", ")))") }
        return (classes, entries)
    }

    private static func collect(_ dir: String, relative: String, into files: inout [String], depth: Int) {
        guard depth < 32, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where !name.hasPrefix(".") {
            let full = dir + "/" + name
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                collect(full, relative: relative + "/" + name, into: &files, depth: depth + 1)
            } else if imageExtensions.contains((name as NSString).pathExtension.lowercased()) {
                files.append(relative + "/" + name)
            }
        }
    }

    /// Python's `sorted()` order on strings (by code point), which torchvision uses for classes.
    static func pythonOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }
}

// MARK: - Resolving references safely

extension ImageList {
    /// Turns an image reference into a URL, refusing references that leave `dataRoot` unless
    /// `allowOutsideRoot`: absolute paths, `..` that climbs above the root, `file://` URLs
    /// outside the root, and paths whose symlinks lead outside the (symlink-resolved) root.
    /// `http(s)://` URLs pass through. Relative references resolve against `dataRoot`; without
    /// one (a job whose lists hold only URLs needs none) every file reference is refused, except
    /// absolute ones under `allowOutsideRoot`.
    public static func resolve(reference: String, dataRoot: String?, allowOutsideRoot: Bool) throws(JobSpecError) -> URL {
        func refuse(_ message: String) -> JobSpecError {
            JobSpecError(file: reference, problems: [JobSpecProblem(path: "reference", message: message)])
        }
        let root = dataRoot.map { normalise(absolute($0)) }
        switch classify(reference) {
        case .invalid(let message):
            throw refuse(message)
        case .remote(let url):
            return url
        case .relative(let rel):
            guard let root else { throw refuse(noRoot(reference)) }
            let lexical = normalise(root + "/" + rel)
            if !allowOutsideRoot {
                guard isInside(lexical, root) else { throw refuse("'\(reference)' climbs out of the data root \(root) with '..'") }
                try checkSymlinks(lexical, root: root, reference: reference, refuse: refuse)
            }
            return URL(fileURLWithPath: lexical)
        case .absolute(let path, let isFileURL):
            let lexical = normalise(path)
            if !allowOutsideRoot {
                guard isFileURL else {
                    throw refuse("absolute path '\(reference)' is not allowed (image references are relative to the data root; set allow_outside_root to permit)")
                }
                guard let root else { throw refuse(noRoot(reference)) }
                guard isInside(lexical, root) else { throw refuse("'\(reference)' is outside the data root \(root)") }
                try checkSymlinks(lexical, root: root, reference: reference, refuse: refuse)
            }
            return URL(fileURLWithPath: lexical)
        }
    }

    /// The same checks without touching the file system (no symlink check); nil when fine.
    /// The loader runs this over every list entry.
    public static func lexicalProblem(reference: String, dataRoot: String?, allowOutsideRoot: Bool) -> String? {
        // Fast path for the common case, a plain relative path: no scheme, no "..", not absolute.
        if let first = reference.utf8.first, first != UInt8(ascii: "/"),
           !reference.utf8.contains(UInt8(ascii: ":")), !reference.utf8.contains(0), !reference.contains("..") {
            return dataRoot == nil ? noRoot(reference) : nil
        }
        let root = dataRoot.map { normalise(absolute($0)) }
        switch classify(reference) {
        case .invalid(let message): return message
        case .remote: return nil
        case .relative(let rel):
            guard let root else { return noRoot(reference) }
            if allowOutsideRoot || isInside(normalise(root + "/" + rel), root) { return nil }
            return "'\(reference)' climbs out of the data root with '..' (set allow_outside_root to permit)"
        case .absolute(let path, let isFileURL):
            if allowOutsideRoot { return nil }
            if !isFileURL { return "absolute path '\(reference)' is not allowed (set allow_outside_root to permit)" }
            guard let root else { return noRoot(reference) }
            return isInside(normalise(path), root) ? nil : "'\(reference)' is outside the data root (set allow_outside_root to permit)"
        }
    }

    /// Why a file reference cannot be used in a job without `data_root`.
    static func noRoot(_ reference: String) -> String {
        "'\(reference.prefix(200))' is a file path, and file paths in image lists are relative to data_root, which the job does not set (lists of http(s) URLs need none)"
    }

    enum Reference {
        case invalid(String)
        case remote(URL)
        case relative(String)
        case absolute(String, isFileURL: Bool)
    }

    static func classify(_ reference: String) -> Reference {
        if reference.isEmpty { return .invalid("empty image reference") }
        if reference.contains("\0") { return .invalid("image reference contains a NUL byte") }
        let lower = reference.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            guard let url = URL(string: reference), let host = url.host, !host.isEmpty else {
                return .invalid("'\(reference)' is not a valid URL")
            }
            return .remote(url)
        }
        if lower.hasPrefix("file://") {
            guard let url = URL(string: reference), url.isFileURL, url.path.hasPrefix("/") else {
                return .invalid("'\(reference)' is not a valid file:// URL")
            }
            if let host = url.host, !host.isEmpty, host != "localhost" {
                return .invalid("'\(reference)' names a remote host; file:// URLs must be local")
            }
            return .absolute(url.path, isFileURL: true)
        }
        if let colon = reference.firstIndex(of: ":"), let slash = reference.firstIndex(of: "/"), colon < slash,
           reference[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || "+.-".contains($0) }),
           reference[reference.index(after: colon)...].hasPrefix("//") {
            return .invalid("unsupported URL scheme in '\(reference)' (use a relative path, file://, http:// or https://)")
        }
        if reference.hasPrefix("/") { return .absolute(reference, isFileURL: false) }
        return .relative(reference)
    }

    /// Absolute, with `.` and `..` resolved lexically (no symlinks followed).
    static func normalise(_ path: String) -> String {
        var parts = [Substring]()
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(component)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    private static func checkSymlinks(_ path: String, root: String, reference: String,
                                      refuse: (String) -> JobSpecError) throws(JobSpecError) {
        let realRoot = canonical(root)
        let realPath = canonical(path)
        guard isInside(realPath, realRoot) else {
            throw refuse("'\(reference)' leads outside the data root \(root) through a symbolic link (to \(realPath))")
        }
    }

    /// The symlink-resolved path: `realpath` of the longest existing prefix, plus the rest.
    static func canonical(_ path: String) -> String {
        if let resolved = realPath(path) { return resolved }
        let parent = (path as NSString).deletingLastPathComponent
        if parent == path || parent.isEmpty { return path }
        let base = canonical(parent)
        return (base == "/" ? "" : base) + "/" + (path as NSString).lastPathComponent
    }

    private static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

func reason(_ error: any Error) -> String {
    if let error = error as? RegularFileError { return error.description }
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError {
        return underlying.localizedDescription
    }
    return ns.localizedDescription
}
