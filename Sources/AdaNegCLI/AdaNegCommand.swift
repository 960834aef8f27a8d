import ArgumentParser

/// The `adaneg` command line: one subcommand per file in `Commands/`.
public struct AdaNegCommand: AsyncParsableCommand {
    /// The release this binary is: what `adaneg --version` prints. The one place it is written.
    public static let version = "0.22.0"

    public static let configuration = CommandConfiguration(
        commandName: "adaneg",
        abstract: "Out-of-distribution detection with CLIP and adaptive negative proxies (AdaNeg).",
        discussion: """
        Scores image sets with AdaNeg, MCM and NegLabel from one pass, embeds images and text \
        with CLIP implemented in Swift, and reports OpenOOD-style metrics.
        """,
        version: "adaneg \(version)",
        subcommands: [
            ScoreFeaturesCommand.self,
            EmbedImagesCommand.self,
            EmbedTextCommand.self,
            TokenizeCommand.self,
            RunCommand.self,
            ServeCommand.self,
            WorkerCommand.self,
            SubmitCommand.self,
            StatusCommand.self,
            CancelCommand.self,
            TokenCommand.self,
            ReportCommand.self,
            RescoreCommand.self,
            SweepCommand.self,
            MineNegativesCommand.self,
            DemoCommand.self,
            SynthesizeCommand.self,
            DoctorCommand.self,
            FetchModelCommand.self,
        ]
    )

    public init() {}
}
