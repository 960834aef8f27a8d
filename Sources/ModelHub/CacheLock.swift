import Foundation
import Platform

/// An exclusive lock (`FileLock`, waiting for it) on `<cache>/.locks/models--org--name/<etag>.lock`,
/// the file `huggingface_hub` locks for the same blob, so adaneg and Python processes (or two
/// workers on one machine) never write one `.incomplete` file at the same time.
struct CacheLock {
    private let lock: FileLock

    init(layout: HubCacheLayout, name: String) throws(HubError) {
        let folder = layout.cache.appendingPathComponent(".locks", isDirectory: true)
            .appendingPathComponent(layout.folderName, isDirectory: true)
        let path = folder.appendingPathComponent(name + ".lock").path
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .fileSystem(path: folder.path, reason: "cannot create the lock folder: \(error.localizedDescription)")
        }
        do { lock = try FileLock.waiting(on: path) } catch { throw .fileSystem(path: path, reason: error.description) }
    }

    /// Releases the lock (dropping the value releases it too).
    func release() { lock.release() }
}
