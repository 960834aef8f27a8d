import Foundation
import Testing
@testable import JobSpec

@Suite("Resolving image references")
struct PathSafetyTests {
    let dir = TempDir()
    var root: String { dir.path + "/root" }

    init() {
        dir.write("root/a/img.jpg", "")
        dir.write("outside/secret.jpg", "")
        try! FileManager.default.createSymbolicLink(atPath: dir.path + "/root/link-out", withDestinationPath: dir.path + "/outside")
        try! FileManager.default.createSymbolicLink(atPath: dir.path + "/root/link-in", withDestinationPath: dir.path + "/root/a")
        try! FileManager.default.createSymbolicLink(atPath: dir.path + "/root-link", withDestinationPath: dir.path + "/root")
    }

    func refused(_ reference: String, root: String? = nil) -> String? {
        do {
            _ = try ImageList.resolve(reference: reference, dataRoot: root ?? self.root, allowOutsideRoot: false)
            return nil
        } catch {
            return error.problems.first?.message ?? "refused"
        }
    }

    @Test("relative paths inside the root resolve, including harmless '..' and symlinks that stay inside")
    func inside() throws {
        let url = try ImageList.resolve(reference: "a/img.jpg", dataRoot: root, allowOutsideRoot: false)
        #expect(url.path == root + "/a/img.jpg")
        #expect(try ImageList.resolve(reference: "a/../a/./img.jpg", dataRoot: root, allowOutsideRoot: false).path == root + "/a/img.jpg")
        #expect(try ImageList.resolve(reference: "link-in/img.jpg", dataRoot: root, allowOutsideRoot: false).path == root + "/link-in/img.jpg")
        #expect(try ImageList.resolve(reference: "a/not-yet.jpg", dataRoot: root, allowOutsideRoot: false).path == root + "/a/not-yet.jpg")
        // A root that is itself a symlink works.
        #expect(try ImageList.resolve(reference: "a/img.jpg", dataRoot: dir.path + "/root-link", allowOutsideRoot: false).path == dir.path + "/root-link/a/img.jpg")
    }

    @Test("'..' escapes, absolute paths, symlinks out and file:// outside the root are refused")
    func refusals() {
        #expect(refused("../outside/secret.jpg")?.contains("climbs out") == true)
        #expect(refused("a/../../outside/secret.jpg")?.contains("climbs out") == true)
        #expect(refused("/etc/passwd")?.contains("absolute path") == true)
        #expect(refused(root + "/a/img.jpg")?.contains("absolute path") == true)
        #expect(refused("link-out/secret.jpg")?.contains("symbolic link") == true)
        #expect(refused("link-out/new.jpg")?.contains("symbolic link") == true)
        #expect(refused("file://" + dir.path + "/outside/secret.jpg")?.contains("outside the data root") == true)
        #expect(refused("file://" + root + "/link-out/secret.jpg")?.contains("symbolic link") == true)
        #expect(refused("ftp://host/x.jpg")?.contains("unsupported URL scheme") == true)
        #expect(refused("file://otherhost/x.jpg")?.contains("remote host") == true)
        #expect(refused("")?.contains("empty") == true)
        // The prefix trap: /root-other is not inside /root.
        #expect(refused("file://" + dir.path + "/root-other/x.jpg") != nil)
    }

    @Test("file:// inside the root and http(s) URLs pass")
    func urls() throws {
        let file = try ImageList.resolve(reference: "file://" + root + "/a/img.jpg", dataRoot: root, allowOutsideRoot: false)
        #expect(file.isFileURL && file.path == root + "/a/img.jpg")
        let web = try ImageList.resolve(reference: "https://example.com/a/b.jpg?x=1", dataRoot: root, allowOutsideRoot: false)
        #expect(web.absoluteString == "https://example.com/a/b.jpg?x=1")
        #expect(try ImageList.resolve(reference: "HTTP://example.com/c.jpg", dataRoot: root, allowOutsideRoot: false).host == "example.com")
    }

    @Test("allow_outside_root accepts every local reference")
    func allowed() throws {
        let opts = { (r: String) in try ImageList.resolve(reference: r, dataRoot: self.root, allowOutsideRoot: true).path }
        #expect(try opts("../outside/secret.jpg") == dir.path + "/outside/secret.jpg")
        #expect(try opts("/etc/passwd") == "/etc/passwd")
        #expect(try opts("link-out/secret.jpg") == root + "/link-out/secret.jpg")
        #expect(try opts("file://" + dir.path + "/outside/secret.jpg") == dir.path + "/outside/secret.jpg")
        #expect(try ImageList.resolve(reference: "/x.jpg", dataRoot: root, allowOutsideRoot: true).path == "/x.jpg")
    }

    @Test("the lexical check (used at load) agrees, without touching the file system")
    func lexical() {
        #expect(ImageList.lexicalProblem(reference: "a/b.jpg", dataRoot: "/nonexistent", allowOutsideRoot: false) == nil)
        #expect(ImageList.lexicalProblem(reference: "../b.jpg", dataRoot: "/nonexistent", allowOutsideRoot: false) != nil)
        #expect(ImageList.lexicalProblem(reference: "/b.jpg", dataRoot: "/nonexistent", allowOutsideRoot: false) != nil)
        #expect(ImageList.lexicalProblem(reference: "/b.jpg", dataRoot: "/nonexistent", allowOutsideRoot: true) == nil)
        #expect(ImageList.lexicalProblem(reference: "file:///nonexistent/x/b.jpg", dataRoot: "/nonexistent", allowOutsideRoot: false) == nil)
        #expect(ImageList.lexicalProblem(reference: "https://h/b.jpg", dataRoot: "/nonexistent", allowOutsideRoot: false) == nil)
    }
}
