import Foundation
import Testing
@testable import JobSpec

@Suite("Image lists and class folders")
struct ImageListTests {
    @Test("OpenOOD lists: path and label per line; comments, blank lines, CRLF, BOM, tabs")
    func parsesLists() throws {
        let dir = TempDir()
        let path = dir.write("list.txt", "\u{FEFF}imagenet_1k/val/a.JPEG 65\r\n# a comment\r\n\r\n  imagenet_1k/val/b.JPEG\t0  \r\nhttps://example.com/c.png 3\n")
        let entries = try ImageList.read(path: path, defaultLabel: nil)
        #expect(entries == [
            ImageListEntry(reference: "imagenet_1k/val/a.JPEG", label: 65),
            ImageListEntry(reference: "imagenet_1k/val/b.JPEG", label: 0),
            ImageListEntry(reference: "https://example.com/c.png", label: 3),
        ])
    }

    @Test("OOD lists may have -1 or no label; no trailing newline is fine")
    func oodLists() throws {
        let dir = TempDir()
        let path = dir.write("ood.txt", "inat/1.jpg -1\ninat/2.jpg")
        let entries = try ImageList.read(path: path, defaultLabel: -1)
        #expect(entries.map(\.label) == [-1, -1])
        #expect(entries.map(\.reference) == ["inat/1.jpg", "inat/2.jpg"])
    }

    @Test("every malformed line is reported with file and line number, CRLF included")
    func malformedLines() {
        let dir = TempDir()
        let path = dir.write("bad.txt", "ok/1.jpg 1\r\nno/label.jpg\r\nbad/label.jpg x\r\n\r\nthree fields here\r\nneg/2.jpg -5\r\n")
        do {
            _ = try ImageList.read(path: path, defaultLabel: nil)
            Issue.record("accepted")
        } catch {
            #expect(error.file == path)
            #expect(error.problems.map(\.line) == [2, 3, 5, 6])
            #expect(error.problems.allSatisfy { $0.file == path })
            #expect(error.problems[0].message.contains("no label"))
            #expect(error.problems[1].message.contains("'x' is not an integer"))
            #expect(error.problems[2].message.contains("found 3 or more fields"))
            #expect(error.problems[3].message.contains("negative"))
            #expect(error.description.contains("\(path):5: "))
        }
    }

    @Test("many malformed lines are summarised after the first 20")
    func manyMalformed() {
        let text = (1...50).map { "img\($0).jpg label" }.joined(separator: "\n")
        do {
            _ = try ImageList.parse(Data(text.utf8), file: "big.txt", defaultLabel: nil)
            Issue.record("accepted")
        } catch {
            #expect(error.problems.count == 21)
            #expect(error.problems.last?.message == "30 more malformed lines not shown (50 in all)")
        }
    }

    @Test("an empty list and a missing list are problems")
    func emptyAndMissing() {
        #expect(throws: JobSpecError.self) { try ImageList.parse(Data("# only a comment\n\n".utf8), file: "e.txt", defaultLabel: -1) }
        do {
            _ = try ImageList.read(path: "/nonexistent/list.txt", defaultLabel: -1)
        } catch {
            #expect(error.problems.first?.message.hasPrefix("cannot read image list") == true)
        }
    }

    @Test("class folders: sorted names are class indices, images recursively, hidden and non-images skipped")
    func folders() throws {
        let dir = TempDir()
        dir.write("root/dog/b.jpg", "")
        dir.write("root/dog/a.PNG", "")
        dir.write("root/dog/notes.txt", "")
        dir.write("root/cat/sub/c.jpeg", "")
        dir.write("root/Zebra/z.webp", "")
        dir.write("root/.hidden/h.jpg", "")
        dir.write("root/dog/.x.jpg", "")
        dir.write("root/readme.md", "")
        let (classes, entries) = try ImageFolders.read(root: dir.path + "/root")
        #expect(classes == ["Zebra", "cat", "dog"])   // code-point order, as Python's sorted()
        #expect(entries == [
            ImageListEntry(reference: "Zebra/z.webp", label: 0),
            ImageListEntry(reference: "cat/sub/c.jpeg", label: 1),
            ImageListEntry(reference: "dog/a.PNG", label: 2),
            ImageListEntry(reference: "dog/b.jpg", label: 2),
        ])
    }

    @Test("class folders: missing root, a file, no classes, no images")
    func badFolders() {
        let dir = TempDir()
        dir.write("file.txt", "")
        dir.mkdir("empty")
        dir.mkdir("noimages/cls")
        for (root, text) in [("missing", "does not exist"), ("file.txt", "not a folder"), ("empty", "no class folders"), ("noimages", "hold no images")] {
            do {
                _ = try ImageFolders.read(root: dir.path + "/" + root)
                Issue.record("accepted \(root)")
            } catch {
                #expect(error.problems.first?.message.contains(text) == true, "\(error)")
            }
        }
    }

    @Test("a folder-per-class ID set gives C and the class names; OOD samples get -1")
    func folderJob() throws {
        let dir = TempDir()
        dir.write("id/b/1.jpg", "")
        dir.write("id/a/1.jpg", "")
        dir.write("id/a/2.jpg", "")
        dir.write("ood/x/1.jpg", "")
        dir.write("model/config.json", "{}")
        for f in ["model.safetensors", "vocab.json", "merges.txt"] { dir.write("model/" + f, "") }
        let yaml = """
        name: folders
        model: model
        id: {images: {folders: id}}
        ood: [{name: o, images: {folders: ood}}]
        negatives: {count: 5, permutation: none}
        """
        let spec = try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir.path)
        #expect(spec.id.numClasses == 2)
        #expect(try spec.classNames() == ["a", "b"])
        let id = try #require(try spec.imageSamples(of: spec.id, isID: true))
        #expect(id.root == dir.path + "/id")
        #expect(id.entries.map(\.label) == [0, 0, 1])
        let ood = try #require(try spec.imageSamples(of: spec.ood[0].data, isID: false))
        #expect(ood.entries == [ImageListEntry(reference: "x/1.jpg", label: -1)])
        let url = try ImageList.resolve(reference: ood.entries[0].reference, dataRoot: ood.root, allowOutsideRoot: spec.allowOutsideRoot)
        #expect(url.path == dir.path + "/ood/x/1.jpg")
    }

    @Test("imageSamples of a list: root is data_root, OOD labels forced to -1")
    func listSamples() throws {
        let fx = Fixture()
        fx.dir.write("lists/ood-a.txt", "a/1.jpg 7\na/2.jpg\n")
        let spec = try fx.parse()
        let ood = try #require(try spec.imageSamples(of: spec.ood[0].data, isID: false))
        #expect(ood.root == fx.dir.path + "/images")
        #expect(ood.entries.map(\.label) == [-1, -1])
        let id = try #require(try spec.imageSamples(of: spec.id, isID: true))
        #expect(id.entries.map(\.label) == [0, 1, 2])
        #expect(try spec.classNames() == ["cat", "dog", "bird"])
    }
}
