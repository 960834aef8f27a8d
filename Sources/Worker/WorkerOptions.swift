import Foundation
import JobProtocol
import Platform

/// How a worker runs.
public struct WorkerOptions: Sendable {
    public var id: String
    public var host: String
    /// Keep polling for new jobs when nothing is left, instead of exiting.
    public var forever = false
    /// Seconds between polls when no unit is available.
    public var idlePoll: Double = 0.5
    /// Benchmarks: sleep this long per batch, as embedding would cost (a no-op embedder).
    public var simulatedBatchSeconds: Double = 0
    /// Testing: abort the process (SIGABRT, like a trap) on leasing this unit.
    public var crashOnUnit: Int64?
    /// Builds the image embedder of a job's model; nil: CLIP from the model directory.
    public var makeEmbedder: (@Sendable (ModelSource) throws -> any ImageEmbedding)?
    /// The precision the person starting this worker expects (nil: whatever each job says). A
    /// job's planned precision always wins; a different expectation is logged, once per model.
    public var expectedPrecision: Precision?
    /// Where files fetched from the coordinator are kept (`ArtefactCache`); nil: a plan's
    /// paths are read as they are (a shared file system).
    public var artefactCache: URL?
    /// A model folder the plan names that is not on this machine, found another way (a Hub
    /// snapshot through this machine's Hugging Face cache); nil from it: not that kind of
    /// folder. Tried before the coordinator's copy.
    public var resolveModelFolder: (@Sendable (String) throws -> String?)?
    /// `--max-pixels`: this machine's own pixel limit; images are decoded under the smaller of
    /// it and the job's `max_pixels` (`ModelSource.pixelLimit`). nil: the job's.
    public var maxPixels: Int?
    /// `--rows`: where a leased unit's feature-file rows come from (default: this machine's
    /// copy of each file when it holds the recorded content, else the coordinator).
    public var rows: RowsSource = .auto

    public init(id: String, host: String, forever: Bool = false, idlePoll: Double = 0.5, simulatedBatchSeconds: Double = 0,
                makeEmbedder: (@Sendable (ModelSource) throws -> any ImageEmbedding)? = nil) {
        self.id = id
        self.host = host
        self.forever = forever
        self.idlePoll = idlePoll
        self.simulatedBatchSeconds = simulatedBatchSeconds
        self.makeEmbedder = makeEmbedder
    }
}

/// Totals a worker reports when it stops.
public struct WorkerReport: Sendable {
    public var units = 0
    public var samples = 0
    public var computeSeconds = 0.0
    public var waitSeconds = 0.0
    /// Images this worker embedded (the rest of its image samples had stored features).
    public var embedded = 0
    /// Samples that ended as per-sample errors (unreadable images).
    public var sampleErrors = 0
    /// Sweep units this worker scored (`sweep --coordinator`), and their (point, task) pairs.
    public var sweepUnits = 0
    public var sweepPointTasks = 0

    /// Share of the worker's busy time spent waiting on the coordinator.
    public var waitShare: Double { computeSeconds + waitSeconds > 0 ? waitSeconds / (computeSeconds + waitSeconds) : 0 }
}
