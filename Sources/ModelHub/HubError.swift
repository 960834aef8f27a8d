import Foundation

/// Why a model could not be resolved. Each description is one line that names the model and says
/// what to do, because it is what a user sees when `--model` or a job's `model:` fails.
public enum HubError: Error, Equatable, CustomStringConvertible {
    case invalidEndpoint(String)
    /// The Hub answers 401 for a repo that does not exist as for a private one (it does not reveal which).
    case repoNotFound(repo: String, endpoint: String, hadToken: Bool)
    case revisionNotFound(repo: String, revision: String)
    case gated(repo: String, endpoint: String, hadToken: Bool)
    case fileNotFound(repo: String, revision: String, file: String)
    case noSafetensors(repo: String, revision: String)
    case offlineNotCached(repo: String, revision: String, cache: String)
    case checksumMismatch(repo: String, file: String, expected: String, actual: String)
    case sizeMismatch(repo: String, file: String, expected: Int64, actual: Int64)
    case badResponse(repo: String, file: String, reason: String)
    case httpStatus(repo: String, file: String, status: Int, message: String?)
    case transport(repo: String, file: String, reason: String)
    case fileSystem(path: String, reason: String)
    case badIndex(repo: String, file: String, reason: String)

    public var description: String {
        switch self {
        case .invalidEndpoint(let value):
            return "HF_ENDPOINT '\(value)' is not an http(s) URL: set it to the Hub or a mirror, e.g. https://huggingface.co"
        case .repoNotFound(let repo, let endpoint, let hadToken):
            return hadToken
                ? "model \(repo) not found on \(endpoint), or your token cannot read it: check the id (org/name)"
                : "model \(repo) not found on \(endpoint): check the id (org/name); if it is private, set HF_TOKEN or run `hf auth login`"
        case .revisionNotFound(let repo, let revision):
            return "model \(repo) has no revision '\(revision)': use a branch, tag or full commit id of the repo (or drop @\(revision) for main)"
        case .gated(let repo, let endpoint, let hadToken):
            return hadToken
                ? "model \(repo) is gated and your token has no access: accept its conditions at \(endpoint)/\(repo)"
                : "model \(repo) is gated: accept its conditions at \(endpoint)/\(repo), then set HF_TOKEN or run `hf auth login`"
        case .fileNotFound(let repo, let revision, let file):
            return "model \(repo)@\(revision) has no \(file): it is not a Hugging Face CLIP checkpoint (needs config.json, model.safetensors, vocab.json, merges.txt)"
        case .noSafetensors(let repo, let revision):
            return "model \(repo)@\(revision) has no safetensors weights (model.safetensors or model.safetensors.index.json): adaneg does not read pytorch_model.bin; pick a revision with safetensors or convert it"
        case .offlineNotCached(let repo, let revision, let cache):
            return "model \(repo)@\(revision) is not complete in the cache \(cache) and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it, or point HF_HUB_CACHE at a cache that has it"
        case .checksumMismatch(let repo, let file, let expected, let actual):
            return "model \(repo): \(file) downloaded with checksum \(actual), the Hub says \(expected): the file was discarded; retry (a proxy or mirror may be corrupting downloads)"
        case .sizeMismatch(let repo, let file, let expected, let actual):
            return "model \(repo): \(file) downloaded \(actual) bytes, the Hub says \(expected): the file was discarded; retry"
        case .badResponse(let repo, let file, let reason):
            return "model \(repo): unexpected answer for \(file): \(reason); is HF_ENDPOINT a Hugging Face Hub?"
        case .httpStatus(let repo, let file, let status, let message):
            return "model \(repo): \(file): HTTP \(status)\(message.map { " (\($0))" } ?? ""); retry later, or set HF_HUB_OFFLINE=1 to use the cache"
        case .transport(let repo, let file, let reason):
            return "model \(repo): \(file): \(reason); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the cache"
        case .fileSystem(let path, let reason):
            return "\(path): \(reason)"
        case .badIndex(let repo, let file, let reason):
            return "model \(repo): \(file) is not a safetensors index: \(reason)"
        }
    }
}
