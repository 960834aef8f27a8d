import Foundation
import Testing
@testable import Platform

/// The one output policy (issue 22): outputs never replace what the command did not write,
/// never an input, and folder outputs replace only their own previous folder.
@Suite("Output target policy")
struct OutputTargetTests {
    /// A fresh folder, removed at the end of the test.
    final class Folder {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-output-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        func at(_ name: String) -> String { path + "/" + name }
        func put(_ name: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: (at(name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: at(name)))
        }
        func read(_ name: String) -> String? { FileManager.default.contents(atPath: at(name)).map { String(decoding: $0, as: UTF8.self) } }
        func entries(_ name: String = "") -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: at(name))) ?? []).sorted() }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static let npyBytes = Data([0x93] + Array("NUMPY".utf8) + [1, 0])

    /// The policy's refusal, nil when `body` succeeds (any other error fails the test).
    func refusal(_ body: () throws -> Void) -> OutputError? {
        do { try body() } catch let error as OutputError { return error } catch { Issue.record("\(error)") }
        return nil
    }

    @Test("a new file is written, and a previous output of the same kind is replaced with its mode kept")
    func writesAndReplaces() throws {
        let f = try Folder()
        try OutputTarget.file(f.at("x.npy"), flag: "--out", replacing: .npy).write(Self.npyBytes + Data([1]))
        #expect(FileManager.default.contents(atPath: f.at("x.npy")) == Self.npyBytes + Data([1]))
        chmod(f.at("x.npy"), 0o600)
        try OutputTarget.file(f.at("x.npy"), flag: "--out", replacing: .npy).write(Self.npyBytes + Data([2]))
        #expect(FileManager.default.contents(atPath: f.at("x.npy")) == Self.npyBytes + Data([2]))
        let mode = try FileManager.default.attributesOfItem(atPath: f.at("x.npy"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(f.entries() == ["x.npy"], "no temporary file is left behind")
    }

    @Test("a folder, `.`, a trailing slash, a FIFO and a dangling link are refused as file outputs")
    func fileRefusals() throws {
        let f = try Folder()
        try FileManager.default.createDirectory(atPath: f.at("dir"), withIntermediateDirectories: false)
        for path in [f.at("dir"), ".", f.at("new/")] {
            let error = refusal { _ = try OutputTarget.file(path, flag: "--out", replacing: .npy) }
            #expect(error == .isFolder(path: path, flag: "--out"))
            #expect(error?.description.contains("'\(path)' is a folder; --out takes a file path") == true)
        }
        #expect(mkfifo(f.at("fifo"), 0o600) == 0)
        #expect(refusal { _ = try OutputTarget.file(f.at("fifo"), flag: "--out", replacing: .text) }
                == .notRegular(path: f.at("fifo"), flag: "--out", what: "a FIFO"))
        try FileManager.default.createSymbolicLink(atPath: f.at("dangling"), withDestinationPath: f.at("nothing"))
        #expect(refusal { _ = try OutputTarget.file(f.at("dangling"), flag: "--out", replacing: .text) }
                == .notRegular(path: f.at("dangling"), flag: "--out", what: "a symbolic link to nothing"))
        #expect(refusal { _ = try OutputTarget.file(f.at("no/such/x.npy"), flag: "--out", replacing: .npy) }
                == .missingFolder(path: f.at("no/such/x.npy"), flag: "--out", folder: f.at("no/such")))
        #expect(refusal { _ = try OutputTarget.file("", flag: "--out", replacing: .npy) } == .empty(flag: "--out"))
    }

    @Test("an existing file of another kind is not replaced")
    func otherKind() throws {
        let f = try Folder()
        try f.put("notes.txt", "keep me\n")
        let error = refusal { _ = try OutputTarget.file(f.at("notes.txt"), flag: "--out", replacing: .npy) }
        #expect(error == .otherKind(path: f.at("notes.txt"), flag: "--out", expected: "a .npy file"))
        try Data([0x53, 0x51, 0, 1]).write(to: URL(fileURLWithPath: f.at("db.sqlite")))
        #expect(refusal { _ = try OutputTarget.file(f.at("db.sqlite"), flag: "--out", replacing: .text) } != nil)
        #expect(refusal { _ = try OutputTarget.file(f.at("notes.txt"), flag: "--out", replacing: .text(header: "index,pred")) } != nil)
        try f.put("scores.csv", "index,pred\n0,1\n")
        #expect(refusal { _ = try OutputTarget.file(f.at("scores.csv"), flag: "--out", replacing: .text(header: "index,pred")) } == nil)
        #expect(f.read("notes.txt") == "keep me\n")
    }

    @Test("an output that is an input, directly, through a link, through `..` or a hard link, is refused")
    func inputs() throws {
        let f = try Folder()
        try f.put("in.txt", "input\n")
        try f.put("sub/other", "")
        try FileManager.default.createSymbolicLink(atPath: f.at("link.txt"), withDestinationPath: f.at("in.txt"))
        #expect(link(f.at("in.txt"), f.at("hard.txt")) == 0)
        let inputs = [OutputTarget.Input(f.at("in.txt"), flag: "--db")]
        for path in [f.at("in.txt"), f.at("link.txt"), f.at("sub/../in.txt"), f.at("hard.txt")] {
            let error = refusal { _ = try OutputTarget.file(path, flag: "--out", replacing: .text, inputs: inputs) }
            #expect(error == .isInput(path: path, flag: "--out", input: f.at("in.txt"), inputFlag: "--db"), "\(path)")
            #expect(error?.description.contains("is the input given as --db") == true)
        }
        #expect(f.read("in.txt") == "input\n")
        // A folder input protects the files in it; a new file beside them is fine.
        try f.put("model/config.json", "{}")
        let model = [OutputTarget.Input(f.at("model"), flag: "--model")]
        #expect(refusal { _ = try OutputTarget.file(f.at("model/config.json"), flag: "--out", replacing: .text, inputs: model) }
                == .isInput(path: f.at("model/config.json"), flag: "--out", input: f.at("model/config.json"), inputFlag: "--model"))
        try OutputTarget.file(f.at("model/new.npy"), flag: "--out", replacing: .npy, inputs: model).write(Self.npyBytes)
        #expect(f.read("model/config.json") == "{}")
    }

    @Test("a file output through a link to another file writes that file, not the link")
    func writesThroughLink() throws {
        let f = try Folder()
        try f.put("real.csv", "index,pred\n")
        try FileManager.default.createSymbolicLink(atPath: f.at("link.csv"), withDestinationPath: f.at("real.csv"))
        try OutputTarget.file(f.at("link.csv"), flag: "--out", replacing: .text).write(Data("new\n".utf8))
        #expect(f.read("real.csv") == "new\n")
        let kind = try FileManager.default.attributesOfItem(atPath: f.at("link.csv"))[.type] as? FileAttributeType
        #expect(kind == .typeSymbolicLink)
    }

    @Test("a folder output is created with a manifest, and replaces only its own previous folder")
    func folders() throws {
        let f = try Folder()
        let out = f.at("out")
        try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
            try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/b.npy"))
            try Data(#"{"inputs": {"seed": 7}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        }
        #expect(f.entries("out") == ["a.npy", "b.npy", "manifest.json"])
        let manifest = try JSONSerialization.jsonObject(with: Data(f.read("out/manifest.json")!.utf8)) as? [String: Any]
        #expect(manifest?["written_by"] as? String == "adaneg test")
        #expect(manifest?["files"] as? [String] == ["a.npy", "b.npy"])
        #expect((manifest?["inputs"] as? [String: Any])?["seed"] as? Int == 7, "the command's own fields are kept")

        // The same command again: the old folder goes, the new one takes its place.
        try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("2".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
        }
        #expect(f.entries("out") == ["a.npy", "manifest.json"])
        #expect(f.read("out/a.npy") == "2")
        #expect(f.entries() == ["out"], "no temporary or set-aside folder is left behind")

        // Another command's folder, or ours with a file the user added, is refused untouched.
        #expect(refusal { _ = try OutputTarget.folder(out, flag: "--out", writer: "adaneg other") }
                == .foreignFolder(path: out, flag: "--out", writer: "adaneg other", entries: ["a.npy", "manifest.json"]))
        try f.put("out/mine.txt", "user")
        let error = refusal { _ = try OutputTarget.folder(out, flag: "--out", writer: "adaneg test") }
        #expect(error == .foreignFiles(path: out, flag: "--out", writer: "adaneg test", files: ["mine.txt"]))
        #expect(f.read("out/mine.txt") == "user" && f.read("out/a.npy") == "2")
    }

    @Test("a non-empty foreign folder, `.` and a file are refused; an empty folder is used")
    func folderRefusals() throws {
        let f = try Folder()
        try f.put("data/keep.txt", "keep")
        let error = refusal { _ = try OutputTarget.folder(f.at("data"), flag: "--out", writer: "adaneg test") }
        #expect(error == .foreignFolder(path: f.at("data"), flag: "--out", writer: "adaneg test", entries: ["keep.txt"]))
        #expect(error?.description.contains("did not write") == true)
        #expect(refusal { _ = try OutputTarget.folder(".", flag: "--out", writer: "adaneg test") } != nil)
        #expect(refusal { _ = try OutputTarget.folder(f.at("data/keep.txt"), flag: "--out", writer: "adaneg test") }
                == .notAFolder(path: f.at("data/keep.txt"), flag: "--out", what: "a regular file"))
        #expect(refusal { _ = try OutputTarget.folder(f.at("data/keep.txt/x"), flag: "--out", writer: "adaneg test") } != nil)
        #expect(f.read("data/keep.txt") == "keep")

        try FileManager.default.createDirectory(atPath: f.at("empty"), withIntermediateDirectories: false)
        try OutputTarget.folder(f.at("empty"), flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
        }
        #expect(f.entries("empty") == ["a.npy", "manifest.json"])
        // Missing parents are created.
        try OutputTarget.folder(f.at("p/q/r"), flag: "--out", writer: "adaneg test").writeFolder { _ in }
        #expect(f.entries("p/q/r") == ["manifest.json"])
    }

    @Test("a folder output that holds an input is refused, even one of its own")
    func folderHoldsInput() throws {
        let f = try Folder()
        let out = f.at("out")
        try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/classes.txt"))
        }
        let input = [OutputTarget.Input(out + "/classes.txt", flag: "--classes")]
        #expect(refusal { _ = try OutputTarget.folder(out, flag: "--out", writer: "adaneg test", inputs: input) }
                == .holdsInput(path: out, flag: "--out", input: out + "/classes.txt", inputFlag: "--classes"))
        // `.` holding the class list, through `..` too.
        try f.put("classes.txt", "cat\n")
        let here = [OutputTarget.Input(f.at("classes.txt"), flag: "--classes")]
        #expect(refusal { _ = try OutputTarget.folder(f.path, flag: "--out", writer: "adaneg test", inputs: here) }
                == .holdsInput(path: f.path, flag: "--out", input: f.at("classes.txt"), inputFlag: "--classes"))
        #expect(refusal { _ = try OutputTarget.folder(out + "/..", flag: "--out", writer: "adaneg test", inputs: here) } != nil)
        #expect(f.read("classes.txt") == "cat\n" && f.read("out/classes.txt") == "1")
    }

    @Test("what appears at the path between the check and the rename is never replaced")
    func checkedAgainBeforeTheRename() throws {
        let f = try Folder()
        let file = try OutputTarget.file(f.at("x.npy"), flag: "--out", replacing: .npy)
        try f.put("x.npy/inside.txt", "theirs")
        #expect(refusal { try file.write(Self.npyBytes) } == .isFolder(path: f.at("x.npy"), flag: "--out"))
        try FileManager.default.createDirectory(atPath: f.at("empty"), withIntermediateDirectories: false)
        let folder = try OutputTarget.folder(f.at("empty"), flag: "--out", writer: "adaneg test")
        try f.put("empty/late.txt", "theirs")
        #expect(throws: OutputError.self) {
            try folder.writeFolder { dir in try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy")) }
        }
        #expect(f.read("x.npy/inside.txt") == "theirs" && f.read("empty/late.txt") == "theirs")
        #expect(f.entries() == ["empty", "x.npy"], "no temporary file or folder is left behind")
    }

    @Test("replacing its own folder removes only the entries it checked, whatever the manifest lists")
    func manifestListsOutside() throws {
        let f = try Folder()
        let out = f.at("out")
        try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
        }
        try f.put("victim.txt", "keep")
        try f.put("out/manifest.json", #"{"written_by": "adaneg test", "files": ["a.npy", "../victim.txt", "/etc/hostname"]}"#)
        try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("2".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
        }
        #expect(f.read("victim.txt") == "keep" && f.read("out/a.npy") == "2")
        #expect(f.entries() == ["out", "victim.txt"])
    }

    @Test("a failing body leaves the previous output and nothing else")
    func failingBody() throws {
        struct Boom: Error {}
        let f = try Folder()
        let out = f.at("out")
        try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
            try Data("1".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
        }
        #expect(throws: Boom.self) {
            try OutputTarget.folder(out, flag: "--out", writer: "adaneg test").writeFolder { dir in
                try Data("2".utf8).write(to: URL(fileURLWithPath: dir + "/a.npy"))
                throw Boom()
            }
        }
        #expect(f.read("out/a.npy") == "1")
        #expect(f.entries() == ["out"])
    }
}
