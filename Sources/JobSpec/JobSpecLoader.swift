import AdaNegCore
import Foundation
import Platform
import NPY

/// Decodes and validates `jobs/*.yaml`.
///
/// Validation collects every problem (unknown keys with a suggestion, wrong types, missing keys,
/// out-of-range values, missing or inconsistent files, malformed image-list lines) and throws
/// them together; nothing is returned unless the spec is clean. Loading has no side effects.
public enum JobSpecLoader {
    // MARK: The keys of the format

    public static let topLevelKeys = [
        "name", "model", "data_root", "allow_outside_root", "id", "ood", "negatives", "scoring",
        "preprocessing", "seed", "unit_batches", "sync_every", "keep_features", "precision", "max_pixels",
    ]
    public static let idKeys = ["classes", "num_classes", "images", "features", "labels"]
    public static let oodKeys = ["name", "group", "images", "features", "labels"]
    public static let imageSourceKeys = ["list", "folders"]
    public static let negativesKeys = ["count", "lexicon", "text_features", "permutation"]
    /// The `scoring:` keys: one per scoring parameter (`ScoringParameter`, their one definition).
    public static let scoringKeys = ScoringParameter.allCases.map(\.key)
    public static let preprocessingKeys = ["resize", "crop"]

    /// The largest spec accepted, in bytes (files and `POST /v1/jobs` bodies alike): specs are
    /// a few kilobytes, and parsing costs tens of bytes of memory per byte of text.
    public static let maxSpecBytes = 1 << 20

    // MARK: Entry points

    /// Reads, parses and validates a spec file. Relative paths in the spec resolve against the
    /// file's directory. With `checkFiles: false` only the structure is validated (no file is
    /// opened besides the spec itself).
    public static func load(path: String, checkFiles: Bool = true) throws(JobSpecError) -> JobSpec {
        let url = URL(fileURLWithPath: path)
        let text: String
        do {
            // A spec file larger than any spec is refused before it is read into memory.
            let data = try RegularFile.read(path, maxBytes: maxSpecBytes)
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw JobSpecError(file: path, problems: [JobSpecProblem(path: "", message: "the spec is not UTF-8 text")])
            }
            text = decoded
        } catch let error as JobSpecError {
            throw error
        } catch {
            throw JobSpecError(file: path, problems: [JobSpecProblem(path: "", message: "cannot read the spec: \(reason(error))")])
        }
        let base = url.deletingLastPathComponent().path
        return try parse(yaml: text, baseDirectory: base, checkFiles: checkFiles, file: path)
    }

    /// Parses and validates spec text; relative paths resolve against `baseDirectory`.
    /// `file` only names the spec in the error.
    public static func parse(yaml: String, baseDirectory: String, checkFiles: Bool = true,
                             file: String = "<spec>") throws(JobSpecError) -> JobSpec {
        // Size and unknown top-level keys first, before YAML builds anything large.
        let early = SpecPrescan.problems(yaml)
        if !early.isEmpty { throw JobSpecError(file: file, problems: early) }
        var decoder = SpecDecoder(base: ImageList.normalise(ImageList.absolute(expandTilde(baseDirectory))), checkFiles: checkFiles)
        let spec = decoder.decode(yaml)
        guard let spec, decoder.log.problems.isEmpty else {
            throw JobSpecError(file: file, problems: decoder.sortedProblems())
        }
        return spec
    }

    static func expandTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return NSHomeDirectory() + path.dropFirst()
    }
}
