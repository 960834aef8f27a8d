import AdaNegCore
import JobSpec
import Platform

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
    public var permutation: PermutationSource
    /// Index 0 is the ID set, then the OOD sets in job order.
    public var sets: [SetSource]
    public var syncEvery: Int
    public var unitBatches: Int
    public var keepFeatures: Bool
    /// The image embedder, when any set is given as images.
    public var model: ModelSource?
    /// The job's seed (each task's stream order); nil in plans stored before it was recorded.
    public var seed: UInt64?
    /// The job's `model:` as resolved (a folder), also for feature jobs, where it mined the
    /// negatives; nil when the job names none, or in plans stored before it was recorded.
    public var modelName: String?
    /// The content of every file the plan names that workers read (the text features, a
    /// permutation file, the model folder's checkpoint files), by the path the plan names it
    /// under: a worker where the path is missing or holds other bytes fetches the coordinator's
    /// copy by digest. nil in plans stored before artefacts were recorded (paths are then read
    /// as they are, which needs a shared file system).
    public var artefacts: [String: ArtefactDigest]?
    /// The content of every other file the job read at submission, by path: each set's feature
    /// file, the ID labels, image lists, the class-names file, a lexicon. These stay on the
    /// coordinator (feature rows travel in the leases); every reader checks them against this
    /// (`InputDigests`) and fails what reads a file that "changed since submission". nil in
    /// plans stored before inputs were recorded: their files are read unchecked.
    public var inputs: [String: ArtefactDigest]?

    public init(
        jobID: Int64, jobName: String, scoring: ScoringParameters, numID: Int, textFeatures: String,
        labelCount: Int, dimension: Int, permutation: PermutationSource, sets: [SetSource],
        syncEvery: Int, unitBatches: Int, keepFeatures: Bool, model: ModelSource? = nil, seed: UInt64? = nil,
        modelName: String? = nil, artefacts: [String: ArtefactDigest]? = nil, inputs: [String: ArtefactDigest]? = nil
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
        self.model = model
        self.seed = seed
        self.modelName = modelName
        self.artefacts = artefacts
        self.inputs = inputs
    }

    /// The digest recorded at submission for a file this plan names (`inputs` or `artefacts`);
    /// nil when none was recorded (a plan from before digests): the file is read unchecked.
    public func recordedDigest(of path: String) -> ArtefactDigest? {
        inputs?[path] ?? artefacts?[path]
    }

    /// The feature files the given sets read, with their recorded digests (files without one
    /// are left out: unchecked). A task's sets are the ID set and its OOD set.
    public func recordedFeatureFiles(sets: some Sequence<Int>) -> [(path: String, digest: ArtefactDigest)] {
        var seen = Set<String>()
        var out = [(path: String, digest: ArtefactDigest)]()
        for set in sets where set >= 0 && set < self.sets.count {
            guard let path = self.sets[set].features, seen.insert(path).inserted, let digest = recordedDigest(of: path) else { continue }
            out.append((path, digest))
        }
        return out
    }

    /// Every file with a recorded digest, except the model's (checked by its checksum when it is
    /// loaded), sorted by path: what `rescore` checks before it plans the job again.
    public var recordedInputs: [(path: String, digest: ArtefactDigest)] {
        let modelPrefix = model.map { $0.path.hasSuffix("/") ? $0.path : $0.path + "/" }
        var all = inputs ?? [:]
        for (path, digest) in artefacts ?? [:] where modelPrefix.map({ !path.hasPrefix($0) }) ?? true { all[path] = digest }
        return all.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Samples per work unit (0 when the product overflows, which `problems` reports).
    public var unitSize: Int { MemoryEstimate.product(unitBatches, scoring.batchSize) ?? 0 }

    /// Why a worker cannot run this plan. Plans come over the network, so a worker checks
    /// every size it allocates from before building a scorer: an absurd value fails the unit
    /// with this message (counted as an attempt) instead of trapping in an allocation.
    public func problems(availableBytes: Int) -> [String] {
        var out = scoring.problems()
        if !(1...JobSpec.Limits.unitBatches.upperBound).contains(unitBatches) { out.append("unit_batches \(unitBatches) is out of range") }
        if !(1...JobSpec.Limits.syncEvery.upperBound).contains(syncEvery) { out.append("sync_every \(syncEvery) is out of range") }
        if numID < 1 || numID >= labelCount { out.append("num_id \(numID) is out of range for \(labelCount) labels") }
        if dimension < 1 { out.append("dimension \(dimension) is out of range") }
        if sets.contains(where: { $0.count < 0 }) { out.append("a set has a negative sample count") }
        for (path, digest) in artefacts ?? [:] {
            if let problem = digest.problem { out.append("artefact \(path.prefix(200)): \(problem)") }
        }
        for (path, digest) in inputs ?? [:] {
            if let problem = digest.problem { out.append("input \(path.prefix(200)): \(problem)") }
        }
        guard out.isEmpty else { return out }
        if let memory = MemoryEstimate.problem(labelCount: labelCount, dimension: dimension, unitSize: unitSize,
                                               parameters: scoring, availableBytes: availableBytes) {
            out.append(memory)
        }
        return out
    }
}

/// Where one set's samples come from.
public struct SetSource: Codable, Sendable, Equatable {
    public var name: String
    public var group: String?
    /// Precomputed features (`.npy`, N × D), row = item index.
    public var features: String?
    public var count: Int
    /// True when the set is images: item references are in the lease grants, features are
    /// embedded by workers and stored per image and model.
    public var images: Bool?
    /// The folder an image set's local references resolve against (`data_root` for a list,
    /// the class-folder root): a worker without it lacks the job's data altogether and refuses
    /// the unit, while a missing file or sub-folder under it is that sample's error. nil for
    /// feature sets, lists of URLs, and plans stored before roots were recorded.
    public var root: String?

    public init(name: String, group: String?, features: String?, count: Int, images: Bool? = nil, root: String? = nil) {
        self.name = name
        self.group = group
        self.features = features
        self.count = count
        self.images = images
        self.root = root
    }

    public var isImages: Bool { images ?? false }
}

/// The CLIP model image sets are embedded with, as workers load it.
public struct ModelSource: Codable, Sendable, Equatable {
    /// Hugging Face model directory (`config.json`, `model.safetensors`): the same path must
    /// hold the same model on every worker machine; the checksum identifies it.
    public var path: String
    /// `ModelChecksum` of the directory: the key of stored features, cited in reports.
    public var checksum: String
    /// Shorter side after resizing and the centre crop (nil: the model's image size).
    public var resize: Int?
    public var crop: Int?
    /// The precision every worker embeds in, fixed when the job is planned (nil in plans made
    /// before precisions existed: fp32).
    public var precision: Precision?
    /// The job's `max_pixels`: an image with more pixels is that sample's error, refused from
    /// its header before decoding allocates anything (nil: `ImageDecoder.defaultMaxPixels`).
    public var maxPixels: Int?

    public init(path: String, checksum: String, resize: Int?, crop: Int?, precision: Precision? = nil, maxPixels: Int? = nil) {
        self.path = path
        self.checksum = checksum
        self.resize = resize
        self.crop = crop
        self.precision = precision
        self.maxPixels = maxPixels
    }

    /// The precision workers run in.
    public var effectivePrecision: Precision { precision ?? .fp32 }

    /// Key of stored features: a feature depends on the weights, the preprocessing and the
    /// precision (fp32 keys keep their form from before precisions, so stored fp32 features stay
    /// valid; bf16 ones get a suffix and never mix with them).
    public var featureKey: String {
        let base = "\(checksum)/r\(resize.map(String.init) ?? "-")c\(crop.map(String.init) ?? "-")"
        return effectivePrecision == .fp32 ? base : "\(base)/\(effectivePrecision.rawValue)"
    }
}
