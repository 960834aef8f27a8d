public enum WorkerError: Error, CustomStringConvertible {
    case input(String)
    case plan(String)

    public var description: String {
        switch self {
        case let .input(m): "input: \(m)"
        case let .plan(m): "plan: \(m)"
        }
    }
}
