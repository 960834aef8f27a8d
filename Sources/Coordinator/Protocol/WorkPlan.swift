import AdaNeg

/// Everything a worker needs to score a job's units, resolved at submission (absolute paths,
/// counts read from the inputs). Served once per job and cached by workers.
public struct WorkPlan: Codable, Sendable, Equatable {
    public var jobID: Int64
    public var jobName: String
    public var scoring: ScoringParameters
    /// C: the first C rows of the text features are the ID classes.
    public var numID: Int
    /// (C + M) × D text features (`.npy`).
    public var textFeatures: String
    public var labelCount: Int
    public var dimension: Int
    public var permutation: PermutationChoice
    /// Index 0 is the ID set, then the OOD sets in job order.
    public var sets: [SetSource]
    public var syncEvery: Int
    public var unitBatches: Int
    public var keepFeatures: Bool

    public init(
        jobID: Int64, jobName: String, scoring: ScoringParameters, numID: Int, textFeatures: String,
        labelCount: Int, dimension: Int, permutation: PermutationChoice, sets: [SetSource],
        syncEvery: Int, unitBatches: Int, keepFeatures: Bool
    ) {
        self.jobID = jobID
        self.jobName = jobName
        self.scoring = scoring
        self.numID = numID
        self.textFeatures = textFeatures
        self.labelCount = labelCount
        self.dimension = dimension
        self.permutation = permutation
        self.sets = sets
        self.syncEvery = syncEvery
        self.unitBatches = unitBatches
        self.keepFeatures = keepFeatures
    }

    /// Samples per work unit.
    public var unitSize: Int { unitBatches * scoring.batchSize }
}

/// How the negatives are ordered before grouping (see `LabelSpace.PermutationSource`).
public enum PermutationChoice: Codable, Sendable, Equatable {
    case seed(UInt64)
    case file(String)
    case none
}

/// Where one set's samples come from.
public struct SetSource: Codable, Sendable, Equatable {
    public var name: String
    public var group: String?
    /// Precomputed features (`.npy`, N × D), row = item index.
    public var features: String?
    public var count: Int

    public init(name: String, group: String?, features: String?, count: Int) {
        self.name = name
        self.group = group
        self.features = features
        self.count = count
    }
}
