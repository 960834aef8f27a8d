import ArgumentParser
import Foundation
import ModelHub

/// `adaneg fetch-model org/name[@revision]`: fills the Hugging Face cache ahead of a job (a
/// worker image, a machine about to go offline) and prints the snapshot folder. Every command
/// that takes `--model` does the same on first use; this one only fetches.
struct FetchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-model",
        abstract: "Download a CLIP model by Hugging Face id into the Hugging Face cache and print its folder.",
        discussion: """
        Fetches config.json, model.safetensors (or its shards and index), vocab.json and merges.txt \
        at the revision (default main) into HF_HUB_CACHE (default ~/.cache/huggingface/hub), in the \
        layout transformers and huggingface_hub use, so both share one copy. Honours HF_ENDPOINT, \
        HF_TOKEN (or the token file of `hf auth login`) and HF_HUB_OFFLINE=1. Progress goes to stderr; \
        stdout gets the snapshot folder, whose name is the commit.
        """
    )

    @Argument(help: "A Hub id org/name[@revision] (a local folder is printed as is).")
    var model: String

    func run() throws {
        try Self.checkLocalFolder(model)
        let resolved: (folder: URL, resolved: ResolvedModel?)
        do { resolved = try resolveModelReference(model) } catch { throw CommandFailure(error.description) }
        if let info = resolved.resolved, info.revision != info.commit {
            StandardError.write("\(info.repo)@\(info.revision) is commit \(info.commit)\n")
        }
        print(resolved.folder.path)
    }

    /// A reference that is not a Hub id names a local folder, which must exist and hold a model:
    /// printing a path that leads nowhere, with status 0, would only defer the failure.
    static func checkLocalFolder(_ model: String) throws {
        guard case let .folder(path) = ModelReference.parse(model) else { return }
        let expanded = (path as NSString).expandingTildeInPath
        guard ModelReference.directoryExists(expanded) else {
            let what = FileManager.default.fileExists(atPath: expanded) ? "is a file, not a model folder" : "is no existing folder"
            throw CommandFailure("model '\(model)' \(what), and not a Hugging Face id (org/name[@revision]) either")
        }
        guard FileManager.default.fileExists(atPath: (expanded as NSString).appendingPathComponent("config.json")) else {
            throw CommandFailure("model '\(model)' is a folder without config.json: not a CLIP model folder (Hugging Face layout)")
        }
    }
}
