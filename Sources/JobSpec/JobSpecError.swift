/// One thing wrong with a job spec (or an image list, or an image reference).
public struct JobSpecProblem: Sendable, Equatable, CustomStringConvertible {
    /// The key path in the spec, e.g. `ood[2].name`, `scoring.thres`; for a line of an image
    /// list, the key that names the list (`id.images`); empty for the document as a whole.
    public var path: String
    /// The line (1-based), when known: in the YAML, or in `file` when that is set.
    public var line: Int?
    public var message: String
    /// The file `line` refers to when it is not the spec itself (an image list, a lexicon).
    public var file: String?

    public init(path: String, line: Int? = nil, message: String, file: String? = nil) {
        self.path = path
        self.line = line
        self.message = message
        self.file = file
    }

    public var description: String {
        var out = ""
        switch (file, line) {
        case let (file?, line?): out += "\(file):\(line): "
        case let (file?, nil): out += "\(file): "
        case let (nil, line?): out += "line \(line): "
        case (nil, nil): break
        }
        if !path.isEmpty { out += "\(path): " }
        return out + message
    }
}

/// Why a job spec was refused: every problem found, not just the first.
public struct JobSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The spec file (or list file) the problems are about; `<spec>` for YAML given as text.
    public var file: String
    public var problems: [JobSpecProblem]

    public init(file: String, problems: [JobSpecProblem]) {
        self.file = file
        self.problems = problems
    }

    public var description: String {
        let head = problems.count == 1 ? "\(file): 1 problem" : "\(file): \(problems.count) problems"
        return ([head + ":"] + problems.map { "  " + $0.description }).joined(separator: "\n")
    }
}
