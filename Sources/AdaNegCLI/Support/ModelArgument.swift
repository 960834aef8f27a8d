import Foundation
import ModelHub
import Yams

/// `--model` and a job's `model:` at the command's edge: a folder passes through, a Hub id
/// (`org/name[@revision]`) becomes its snapshot folder in the Hugging Face cache, downloaded
/// first if needed. Everything past this point sees a folder, as before models had names.
enum ModelArgument {
    /// The folder to load for `ref`; Hub failures become one-line command failures.
    /// `settings` nil: from the environment (HF_HUB_CACHE, HF_ENDPOINT, …).
    static func folder(_ ref: String, settings: HubSettings? = nil) throws -> String {
        let resolved: (folder: URL, resolved: ResolvedModel?)
        do { resolved = try resolveModelReference(ref, settings: settings) } catch { throw CommandFailure(error.description) }
        if let model = resolved.resolved, model.isSharded {
            // The CLIP loader reads one model.safetensors; the shards are in the cache for when it reads more.
            throw CommandFailure("model \(model.repo)@\(model.commit) is sharded (model.safetensors.index.json, \(model.shards.count) shards): adaneg's CLIP loader reads a single model.safetensors; merge the shards or use a repo with one weights file")
        }
        return resolved.folder.path
    }

    /// A job spec whose `model:` is a Hub id, with the id replaced by its snapshot folder (which
    /// names the commit, so the job is pinned to what was resolved at submission). Only that
    /// value changes, on its own line, so the loader's line numbers still match the user's file.
    /// nil when the spec has no `model:` or it names a folder.
    static func pinningModel(inSpec text: String, baseDirectory: String, settings: HubSettings? = nil) throws -> String? {
        guard let root = try? Yams.compose(yaml: text), let mapping = root.mapping,
              let value = mapping["model"], let scalar = value.scalar else { return nil }
        let ref = scalar.string
        let isDirectory: (String) -> Bool = { path in
            ModelReference.directoryExists(path.hasPrefix("/") || path.hasPrefix("~") ? path : baseDirectory + "/" + path)
        }
        guard case .hub = ModelReference.parse(ref, isDirectory: isDirectory) else { return nil }
        let folder = try Self.folder(ref, settings: settings)
        var lines = text.components(separatedBy: "\n")
        let lineIndex = scalar.mark.map { $0.line - 1 } ?? -1
        guard lines.indices.contains(lineIndex), let range = lines[lineIndex].range(of: ref) else {
            throw CommandFailure("model: \(ref) could not be pinned in the spec: write it on one line as `model: \(ref)`")
        }
        var replaceRange = range
        let line = lines[lineIndex]
        // Take the quotes around a quoted id with it, then write the path JSON-quoted (valid YAML).
        if range.lowerBound > line.startIndex, range.upperBound < line.endIndex {
            let before = line[line.index(before: range.lowerBound)], after = line[range.upperBound]
            if before == after, before == "\"" || before == "'" {
                replaceRange = line.index(before: range.lowerBound)..<line.index(after: range.upperBound)
            }
        }
        // A YAML double-quoted scalar: only the backslash and the quote need escaping in a path.
        let escaped = folder.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        lines[lineIndex].replaceSubrange(replaceRange, with: "\"" + escaped + "\"")
        return lines.joined(separator: "\n")
    }
}
