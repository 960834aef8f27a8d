import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `<cache>/.locks/models--org--name/<etag>.lock`, the file
/// `huggingface_hub` locks for the same blob, so adaneg and Python processes (or two workers on
/// one machine) never write one `.incomplete` file at the same time.
struct CacheLock {
    private let descriptor: Int32

    init(layout: HubCacheLayout, name: String) throws(HubError) {
        let folder = layout.cache.appendingPathComponent(".locks", isDirectory: true)
            .appendingPathComponent(layout.folderName, isDirectory: true)
        let path = folder.appendingPathComponent(name + ".lock").path
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .fileSystem(path: folder.path, reason: "cannot create the lock folder: \(error.localizedDescription)")
        }
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw .fileSystem(path: path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        var result: Int32
        repeat { result = flock(fd, LOCK_EX) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .fileSystem(path: path, reason: "cannot lock: \(reason)")
        }
        descriptor = fd
    }

    func release() {
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
