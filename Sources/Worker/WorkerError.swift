public enum WorkerError: Error, CustomStringConvertible {
    case input(String)
    case plan(String)
    /// The model directory on this machine is not the one the job was planned with.
    case modelMismatch(path: String, found: String, expected: String)
    /// The device (a GPU) failed, not the unit's input: the unit is released for another try.
    case device(String)
    /// This machine's disk (the artefact cache) cannot hold what the unit needs: full, not
    /// writable. The machine's fault, not the unit's: released, and the worker stops.
    case storage(String)

    /// Whether the unit should go back to the queue instead of being failed (and the worker
    /// stop): the fault is this worker's, so failing the unit would spend its attempts.
    public var releasesUnit: Bool {
        switch self {
        case .device, .storage: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .input(m): "input: \(m)"
        case let .plan(m): "plan: \(m)"
        case let .device(m): "device: \(m)"
        case let .storage(m): "storage: \(m)"
        case let .modelMismatch(path, found, expected):
            "model \(path) has checksum \(found) here, but the job was planned with \(expected): every worker needs the same model files"
        }
    }
}
