import AdaNeg
import CLIP
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import JobStore
import Testing
import Worker

/// `adaneg run` on a job of images, end to end through worker processes: class folders for the
/// ID set (their names become the class names), negatives mined from a small lexicon, broken
/// images in the OOD list.
@Suite("Image run")
struct ImageRunTests {
    static let images = TextCommandsTests.fixtures.appendingPathComponent("images")

    /// Copies fixture images (by name) into `data/id/<class>/`, the classes taken in turn, and
    /// into `data/ood/`; returns the OOD list's lines (relative to `data`).
    static func layOut(_ files: [String], classes: [String], in s: Scratch) throws -> String {
        let fm = FileManager.default
        var ood = ""
        for (i, file) in files.enumerated() {
            let ext = (file as NSString).pathExtension
            let cls = classes[i % classes.count]
            try fm.createDirectory(atPath: s.path("data/id/\(cls)"), withIntermediateDirectories: true)
            try fm.createDirectory(atPath: s.path("data/ood"), withIntermediateDirectories: true)
            try fm.copyItem(atPath: images.appendingPathComponent(file).path, toPath: s.path("data/id/\(cls)/\(i).\(ext)"))
            try fm.copyItem(atPath: images.appendingPathComponent(file).path, toPath: s.path("data/ood/\(i).\(ext)"))
            ood += "ood/\(i).\(ext)\n"
        }
        return ood
    }

    @Test("two worker processes complete an image job: one result per sample, broken images as errors, each image stored once")
    func runImages() async throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.images.path).filter { !$0.hasPrefix("tiny") }.sorted()
        let fm = FileManager.default
        var ood = try Self.layOut(files, classes: ["cat", "dog", "fish"], in: s)
        try Data().write(to: URL(fileURLWithPath: s.path("data/ood/empty.jpg")))
        try Data("<html></html>".utf8).write(to: URL(fileURLWithPath: s.path("data/ood/page.jpg")))
        ood += "ood/empty.jpg\nood/page.jpg\n"
        try ood.write(toFile: s.path("ood.txt"), atomically: true, encoding: .utf8)
        let words = ["rock", "river", "cloud", "table", "engine", "violin", "bridge", "forest", "planet", "candle", "ladder", "anchor"]
        try (words.map { "\($0)\tnoun" }.joined(separator: "\n") + "\n").write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        let yaml = """
        name: pictures
        model: \(model)
        data_root: data
        id: {images: {folders: data/id}}
        ood:
          - {name: odd, images: {list: ood.txt}}
        negatives: {count: 8, lexicon: lexicon.tsv}
        scoring: {batch_size: 4, memleng: 3, groups: 2}
        unit_batches: 1
        """
        try yaml.write(toFile: s.path("job.yaml"), atomically: true, encoding: .utf8)
        let db = s.path("run.sqlite")
        let run = try CLI.run(["run", s.path("job.yaml"), "--workers", "2", "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("odd") && run.stdout.contains("AdaNeg"), "\(run.stdout)")
        #expect(fm.fileExists(atPath: s.path("negatives-pictures.classes.txt")))
        #expect(try String(contentsOfFile: s.path("negatives-pictures.classes.txt"), encoding: .utf8) == "cat\ndog\nfish\n")

        let coordinator = try Coordinator(databasePath: db, models: CLIPModelFacts())
        let status = try await coordinator.status(job: "pictures")
        #expect(status.units.done == status.units.total && status.results == status.samples)
        #expect(status.samples == 2 * files.count + 2)
        let task = try #require(status.tasks.first)
        let results = try await coordinator.results(task: task.id)
        #expect(results.map(\.position) == Array(0..<task.sampleCount))
        let errors = results.compactMap(\.error)
        #expect(errors.count == 2 && errors.contains { $0.contains("empty.jpg") } && errors.contains { $0.contains("page.jpg") }, "\(errors)")
        // The report lists the unreadable images.
        let report = try CLI.run(["report", "--db", db, "pictures", "--format", "json"])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdout.contains("sample_errors") && report.stdout.contains("empty.jpg") && report.stdout.contains("page.jpg"))
        let features = try await coordinator.streamFeatures(task: task.id)
        #expect(features.positions.count == task.sampleCount - 2)
        #expect(Set(features.missing.map(\.position)) == Set(results.filter { $0.error != nil }.map(\.position)))
    }
}
