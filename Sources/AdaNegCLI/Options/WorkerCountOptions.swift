import ArgumentParser

/// `--workers N`: how many local worker processes `run`, `demo` and `rescore` start. One
/// definition (range and message), so every command refuses the same counts: 0 would run
/// nothing, and thousands of processes would only thrash the machine.
struct WorkerCountOptions: ParsableArguments {
    /// Counts accepted wherever `--workers` is given.
    static let range = 1...1024

    @Option(help: ArgumentHelp("Local worker processes, 1...1024 (default: one per core; one with a GPU; demo: 2).", valueName: "N"))
    var workers: Int?

    /// Refuses a count outside `range` (exit 2, naming the flag).
    static func check(_ count: Int) throws {
        guard range.contains(count) else {
            throw CommandFailure("--workers must be in \(range.lowerBound)...\(range.upperBound) (got \(count))")
        }
    }

    /// The count asked for, checked; `fallback` (the command's default, clamped into the
    /// range) when none was given.
    func count(default fallback: Int) throws -> Int {
        guard let workers else { return min(max(fallback, Self.range.lowerBound), Self.range.upperBound) }
        try Self.check(workers)
        return workers
    }
}
