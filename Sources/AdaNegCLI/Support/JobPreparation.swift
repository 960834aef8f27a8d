import Foundation
import JobSpec
import NegMining
import Platform

/// Before a job is planned: a job that names a model and ID classes but no text features gets
/// its negatives mined (and cached in `directory`), and the spec then points at them.
enum JobPreparation {
    static func resolveNegatives(_ spec: JobSpec, directory: String) throws -> JobSpec {
        guard spec.negatives.textFeatures == nil else { return spec }
        let out = URL(fileURLWithPath: directory).appendingPathComponent("negatives-\(spec.name)").standardizedFileURL.path
        guard let model = spec.model, let classes = try spec.id.classes ?? folderClassNames(spec, into: out) else {
            throw CommandFailure("\(spec.name): negatives need either `text_features` or a `model` and `id.classes` (or ID class folders) to mine them")
        }
        var miner = NegativeMiner(model: model, classes: classes, out: out, count: spec.negatives.count,
                                  lexicon: spec.negatives.lexicon, templates: ["The nice {}."], precision: (spec.precision ?? .fp32).planned())
        miner.outFlag = Self.flag
        let outcome = try miner.runShowingProgress()
        StandardError.write(outcome.message + "\n")
        var resolved = spec
        resolved.id.classes = classes
        resolved.negatives.textFeatures = outcome.textFeatures
        resolved.negatives.lexicon = nil
        do {
            return try JobSpecLoader.parse(yaml: resolved.canonicalYAML(), baseDirectory: "/", file: spec.name)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// How messages name the mining outputs (next to `run`'s database, or `submit`'s spec):
    /// no flag names them.
    static let flag = "the mined negatives folder"
    static let classListFlag = "the class list for mining"

    /// With the ID set given as class folders and no class-names file, the folder names are the
    /// class names: written to `<out>.classes.txt` (next to the mining output, which mining
    /// replaces as a whole) for mining. nil when there are no folders.
    static func folderClassNames(_ spec: JobSpec, into out: String) throws -> String? {
        guard case let .folders(root) = spec.id.images else { return nil }
        let classes: [String]
        do { classes = try ImageFolders.read(root: root).classes } catch { throw CommandFailure("\(error)") }
        let path = out + ".classes.txt"
        try OutputTarget.checkedFile(path, flag: classListFlag, replacing: .text, inputs: [.init(root, flag: "id.images")])
            .commit(Data((classes.joined(separator: "\n") + "\n").utf8))
        return path
    }
}
