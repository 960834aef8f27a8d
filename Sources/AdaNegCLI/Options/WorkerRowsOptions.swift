import ArgumentParser
import Worker

/// `--rows auto|local|coordinator`: where workers take a leased unit's feature-file rows from
/// (`RowsSource`). One definition for `worker` and for the commands that start local workers
/// (`run`, `demo`, `rescore`), which pass it on. A value that is none of the three exits 2
/// naming the flag.
struct WorkerRowsOptions: ParsableArguments {
    @Option(name: .customLong("rows"),
            help: ArgumentHelp("Where workers read a unit's feature-file rows: auto (this machine's copy of each file when it holds the content recorded at submission, else the coordinator), local (only this machine's copies: a missing or different copy fails the unit, naming the file) or coordinator (always fetched from it).",
                               valueName: "auto|local|coordinator"))
    var rows: String = RowsSource.auto.rawValue

    func validate() throws { _ = try source() }

    /// The parsed choice.
    func source() throws -> RowsSource {
        do { return try RowsSource.parse(rows) } catch { throw CommandFailure(error.description) }
    }
}
