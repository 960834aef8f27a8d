import Foundation
import Platform
import Testing

/// `FileLock`, the one `flock` wrapper: exclusive per open file, refused at once or waited
/// for, released by `release` or by dropping the value.
@Suite("File lock")
struct FileLockTests {
    @Test("a second open of a locked file is refused at once with held; after a release, or once the holder is dropped, it gets the lock")
    func exclusive() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("filelock-\(UUID().uuidString).lock").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try FileLock.waiting(on: path)
        let second = try FileLock(path: path)
        #expect(throws: FileLock.Failure.held(path: path)) { try second.acquire(wait: false) }
        first.release()
        try second.acquire(wait: false)
        var third: FileLock? = try FileLock(path: path)
        #expect(throws: FileLock.Failure.held(path: path)) { try third?.acquire(wait: false) }
        third = nil
        _ = consume second
        let fourth = try FileLock(path: path)
        try fourth.acquire(wait: false)
    }

    @Test("a lock file that cannot be created is named in the failure")
    func unopenable() {
        let path = "/nonexistent-folder-\(UUID().uuidString)/x.lock"
        #expect(throws: FileLock.Failure.self) { _ = try FileLock(path: path) }
        do { _ = try FileLock(path: path) } catch { #expect(error.description.contains(path)) }
    }
}
