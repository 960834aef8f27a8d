import Foundation
import JobClient
import JobPlan
import JobProtocol
import NIOCore

/// The files a worker fetched from coordinators, by content: `<root>/sha256/<hex>`.
///
/// A download goes to `<root>/partial/` first, is hashed while it is written, and is renamed
/// into place only once its digest and size match the plan's, so a half-written or corrupt
/// file never enters the cache. An entry found corrupt later (a disk error, someone editing
/// it) is removed and fetched again. Entries are immutable, so processes on one machine share
/// them; two fetching the same one at once each write their own partial file and the rename
/// of identical bytes is harmless.
struct ArtefactCache {
    let root: URL
    let client: CoordinatorClient

    /// What `file` did, for the worker's log.
    enum Source: Equatable {
        /// The plan's own path holds the content: a shared file system, or the coordinator's machine.
        case planned
        case cached
        case fetched(seconds: Double)
    }

    /// A local file with `digest`'s content for the plan's `path`: the path itself when it
    /// holds exactly that content here (unless `allowPlanned` is false), else the cached
    /// copy, fetched first when missing or corrupt.
    func file(_ path: String, digest: ArtefactDigest, allowPlanned: Bool = true) async throws -> (path: String, source: Source) {
        if let problem = digest.problem { throw ArtefactError.invalid(path: path, reason: problem) }
        if allowPlanned, FileManager.default.fileExists(atPath: path), Self.size(of: path) == digest.bytes,
           (try? ArtefactDigest.of(file: path)) == digest {
            return (path, .planned)
        }
        let entry = root.appendingPathComponent("sha256").appendingPathComponent(digest.sha256)
        if FileManager.default.fileExists(atPath: entry.path) {
            if Self.size(of: entry.path) == digest.bytes, (try? ArtefactDigest.of(file: entry.path)) == digest { return (entry.path, .cached) }
            try? FileManager.default.removeItem(at: entry)
        }
        let started = Date()
        try await fetch(digest, into: entry, plannedPath: path)
        return (entry.path, .fetched(seconds: Date().timeIntervalSince(started)))
    }

    private func fetch(_ digest: ArtefactDigest, into entry: URL, plannedPath: String) async throws {
        let partialFolder = root.appendingPathComponent("partial")
        do {
            try FileManager.default.createDirectory(at: partialFolder, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: entry.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ArtefactError.unreadable(path: root.path, reason: "cannot create the artefact cache: \(error.localizedDescription)")
        }
        if let free = Self.freeBytes(partialFolder.path), free < digest.bytes {
            throw ArtefactError.noSpace(folder: partialFolder.path, needed: digest.bytes, free: free)
        }
        let partial = partialFolder.appendingPathComponent("\(digest.sha256).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString)")
        let fd = open(partial.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArtefactError.unreadable(path: partial.path, reason: String(cString: strerror(errno))) }
        defer {
            close(fd)
            try? FileManager.default.removeItem(at: partial)
        }
        var hasher = ArtefactHasher()
        _ = try await client.download(artefact: digest, restart: {
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                throw ArtefactError.unreadable(path: partial.path, reason: String(cString: strerror(errno)))
            }
            hasher = ArtefactHasher()
        }, write: { chunk in
            try chunk.withUnsafeReadableBytes { raw in
                hasher.update(raw)
                try Self.writeAll(fd, raw, path: partial.path)
            }
        })
        let found = hasher.finish()
        guard found == digest else {
            throw ArtefactError.mismatch(path: "\(plannedPath) as served by the coordinator", expected: digest, found: found)
        }
        // No fsync: every use verifies the entry's digest, so one torn by a crash is fetched again.
        guard rename(partial.path, entry.path) == 0 else {
            throw ArtefactError.unreadable(path: entry.path, reason: String(cString: strerror(errno)))
        }
    }

    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < raw.count {
            let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ArtefactError.unreadable(path: path, reason: "cannot write: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    static func size(of path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
    }

    private static func freeBytes(_ path: String) -> Int? {
        ((try? FileManager.default.attributesOfFileSystem(forPath: path))?[.systemFreeSize] as? NSNumber)?.intValue
    }

    // MARK: Model folders

    /// A folder holding a model's files under their names, for the loader: links into the
    /// cache, in `<root>/models/<key>`, where the key is a digest of the files' names and
    /// digests, so equal folders share one and a different model never reuses it.
    func modelFolder(files: [(name: String, path: String, digest: ArtefactDigest)]) throws -> String {
        var key = ArtefactHasher()
        for file in files.sorted(by: { $0.name < $1.name }) { key.update(Data("\(file.name)\t\(file.digest.sha256)\n".utf8)) }
        let folder = root.appendingPathComponent("models").appendingPathComponent(String(key.finish().sha256.prefix(32)))
        let complete = files.allSatisfy { file in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: folder.appendingPathComponent(file.name).path)) == file.path
        }
        if complete { return folder.path }
        do {
            let staging = root.appendingPathComponent("partial").appendingPathComponent("model.\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            for file in files {
                try FileManager.default.createSymbolicLink(atPath: staging.appendingPathComponent(file.name).path, withDestinationPath: file.path)
            }
            try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: folder)
            try FileManager.default.moveItem(at: staging, to: folder)
        } catch {
            throw ArtefactError.unreadable(path: folder.path, reason: "cannot assemble the model folder: \(error.localizedDescription)")
        }
        return folder.path
    }
}
