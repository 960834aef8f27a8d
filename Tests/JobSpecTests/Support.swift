import Foundation
import NPY
@testable import JobSpec

/// A temporary folder removed when the value goes away.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "adaneg-jobspec-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes text to `relative` (creating folders) and returns the absolute path.
    @discardableResult
    func write(_ relative: String, _ text: String) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! Data(text.utf8).write(to: URL(fileURLWithPath: full))
        return full
    }

    @discardableResult
    func mkdir(_ relative: String) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    @discardableResult
    func matrix(_ relative: String, rows: Int, cols: Int) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let values = (0..<(rows * cols)).map { Float($0 % 7) / 7 }
        try! NPYFile.writeMatrix(values, rows: rows, cols: cols, to: full)
        return full
    }

    @discardableResult
    func ints(_ relative: String, _ values: [Int]) -> String {
        let full = path + "/" + relative
        try! NPYFile.write(.int64(values, shape: [values.count]), to: full)
        return full
    }
}

/// A complete, valid job on disk: C = 3 classes, M = 5 negatives, D = 4.
struct Fixture {
    let dir = TempDir()

    init() {
        dir.write("classes.txt", "cat\ndog\nbird\n")
        dir.write("model/config.json", #"{"projection_dim": 4, "vision_config": {"image_size": 224}}"#)
        for f in ["model.safetensors", "vocab.json", "merges.txt"] { dir.write("model/" + f, "") }
        dir.mkdir("images")
        dir.write("lists/id.txt", "cat/1.jpg 0\ndog/2.jpg 1\nbird/3.jpg 2\n")
        dir.write("lists/ood-a.txt", "a/1.jpg -1\na/2.jpg -1\n")
        dir.matrix("feat/ood-b.npy", rows: 6, cols: 4)
        dir.matrix("feat/id.npy", rows: 4, cols: 4)
        dir.ints("labels.npy", [0, 1, 2, 1])
        dir.matrix("feat/text.npy", rows: 8, cols: 4)
        dir.ints("perm.npy", [4, 2, 0, 1, 3])
        dir.write("lexicon.txt", "apple\tnoun\nshiny\tadj\n")
    }

    static let yaml = """
    name: full-job
    model: model
    data_root: images
    allow_outside_root: false
    id:
      classes: classes.txt
      images: lists/id.txt
    ood:
      - name: a
        group: near
        images: {list: lists/ood-a.txt}
      - {name: b, group: far, features: feat/ood-b.npy}
    negatives:
      count: 5
      permutation: perm.npy
    scoring:
      memleng: 4
      thres: 0.4
      gap: 0.3
      beta: 5.5
      lambda: 0.2
      groups: 5
      batch_size: 2
      proxy: sample
      in_score: multiply
      replacement: first
      variant: adagap
      logit_scale: 50
    preprocessing: {resize: 256, crop: 224}
    seed: 42
    unit_batches: 3
    sync_every: 2
    keep_features: false
    """

    func parse(_ yaml: String = Fixture.yaml, checkFiles: Bool = true) throws(JobSpecError) -> JobSpec {
        try JobSpecLoader.parse(yaml: yaml, baseDirectory: dir.path, checkFiles: checkFiles)
    }

    /// The problems of a spec that must be refused.
    func problems(_ yaml: String, checkFiles: Bool = true) -> [JobSpecProblem] {
        do {
            _ = try parse(yaml, checkFiles: checkFiles)
            return []
        } catch {
            return error.problems
        }
    }
}

/// The repository root (for the example jobs), found from this file's location.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// A minimal valid features-only spec (files from `Fixture`), to which tests add one fault.
let minimalFeatures = """
name: minimal
id:
  features: feat/id.npy
  labels: labels.npy
ood:
  - {name: b, features: feat/ood-b.npy}
negatives: {count: 5, text_features: feat/text.npy}
"""
