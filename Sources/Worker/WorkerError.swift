public enum WorkerError: Error, CustomStringConvertible {
    case input(String)
    case plan(String)
    /// The model directory on this machine is not the one the job was planned with.
    case modelMismatch(path: String, found: String, expected: String)

    public var description: String {
        switch self {
        case let .input(m): "input: \(m)"
        case let .plan(m): "plan: \(m)"
        case let .modelMismatch(path, found, expected):
            "model \(path) has checksum \(found) here, but the job was planned with \(expected): every worker needs the same model files"
        }
    }
}
