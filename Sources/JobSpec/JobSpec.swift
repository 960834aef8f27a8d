import AdaNegCore
import Platform

/// A scoring job: what `jobs/*.yaml` decodes to (see `jobs/README.md` for the YAML format).
///
/// Every path is absolute after loading: relative paths in the YAML resolve against the
/// directory of the spec file. References *inside* image lists stay relative to `dataRoot`
/// (use `ImageList.resolve` to turn them into URLs safely).
public struct JobSpec: Sendable, Equatable {
    /// Job name, `[A-Za-z0-9._-]+`: the coordinator's unique key.
    public var name: String
    /// CLIP model directory (Hugging Face layout). Required when any set has images or when
    /// negatives must be mined (no `negatives.text_features`).
    public var model: String?
    /// The root that relative image references in lists resolve against.
    public var dataRoot: String?
    /// Lets image references leave `dataRoot` (absolute paths, `..`, symlinks out). Default false.
    public var allowOutsideRoot: Bool
    /// The in-distribution set.
    public var id: DatasetSpec
    /// The OOD sets (at least one, names unique); each one makes a task `id ∪ ood[i]`.
    public var ood: [OODSetSpec]
    public var negatives: NegativesSpec
    public var scoring: ScoringParameters
    public var preprocessing: Preprocessing
    /// The precision image and text features are computed in (`fp32` when absent). `auto` is
    /// resolved once, when the job is planned, so every worker embeds alike and fp32 and bf16
    /// features never meet in one bank.
    public var precision: PrecisionChoice?
    /// Shuffles each task's stream (ID ∪ OOD set); also the default negative permutation seed.
    public var seed: UInt64
    /// Batches per work unit (a unit is `unitBatches × scoring.batchSize` samples). Default 8.
    public var unitBatches: Int
    /// Bank sync every N batches. Default 1.
    public var syncEvery: Int
    /// Store per-image features so the job can be re-scored without embedding. Default true.
    public var keepFeatures: Bool
    /// The YAML as submitted, verbatim.
    public var specText: String
    /// `max_pixels`: the most pixels an image may have (its header is checked before decoding
    /// allocates anything); a larger image is that sample's error. nil: the default,
    /// `ImageDecoder.defaultMaxPixels` (Pillow's `MAX_IMAGE_PIXELS`, 89,478,485).
    public var maxPixels: Int?
    /// What checking the spec's files found valid but unusual (one line each, naming the key):
    /// part of `warnings`. Empty when the files were not checked.
    public var fileWarnings: [String] = []

    public init(
        name: String, model: String? = nil, dataRoot: String? = nil, allowOutsideRoot: Bool = false,
        id: DatasetSpec, ood: [OODSetSpec], negatives: NegativesSpec = NegativesSpec(),
        scoring: ScoringParameters = ScoringParameters(), preprocessing: Preprocessing = Preprocessing(),
        seed: UInt64 = 0, unitBatches: Int = 8, syncEvery: Int = 1, keepFeatures: Bool = true, specText: String = "",
        precision: PrecisionChoice? = nil, maxPixels: Int? = nil
    ) {
        self.precision = precision
        self.maxPixels = maxPixels
        self.name = name
        self.model = model
        self.dataRoot = dataRoot
        self.allowOutsideRoot = allowOutsideRoot
        self.id = id
        self.ood = ood
        self.negatives = negatives
        self.scoring = scoring
        self.preprocessing = preprocessing
        self.seed = seed
        self.unitBatches = unitBatches
        self.syncEvery = syncEvery
        self.keepFeatures = keepFeatures
        self.specText = specText
    }

    /// Samples per work unit (0 when the product would overflow; a loaded spec never does,
    /// see `Limits.unitSamples`).
    public var unitSize: Int { MemoryEstimate.product(unitBatches, scoring.batchSize) ?? 0 }

    /// The accepted range of every integer of the job format besides the hyperparameters
    /// (`ScoringParameters.Limits`). Far beyond real jobs (ImageNet: C = 1000, M = 10000), and
    /// small enough that every size the planner derives from them fits in `Int`.
    public enum Limits {
        public static let unitBatches = 1...100_000
        public static let syncEvery = 1...100_000
        /// unit_batches × batch_size: a unit's results (and image features) travel in one
        /// request body, which the coordinator caps (64 MB by default).
        public static let unitSamples = 1...65_536
        public static let negatives = 1...1_000_000
        public static let numClasses = 1...1_000_000
        /// resize and crop, in pixels.
        public static let imageSide = 1...8192
        /// max_pixels: a decoded image costs 3 bytes a pixel (16-bit PNGs 8 more while they
        /// decode), so a billion pixels is already 11 GB.
        public static let maxPixels = 1...1_000_000_000
    }

    /// Range problems of the sizes that combine fields (key, message), for the loader and for
    /// the planner, which also plans specs built in code. A unit too large for one completion
    /// is blamed on `unit_batches` when the spec gives it, else on `scoring.batch_size` (the
    /// user never wrote the default unit_batches: `unitBatchesGiven: false`).
    public func sizeProblems(unitBatchesGiven: Bool = true) -> [(key: String, message: String)] {
        var out = [(key: String, message: String)]()
        func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) {
            guard !range.contains(value) else { return }
            out.append((key, value < range.lowerBound ? "must be at least \(range.lowerBound) (got \(value))"
                                                       : "must be at most \(range.upperBound) (got \(value))"))
        }
        check("unit_batches", unitBatches, Limits.unitBatches)
        check("sync_every", syncEvery, Limits.syncEvery)
        if Limits.unitBatches.contains(unitBatches), ScoringParameters.Limits.batchSize.contains(scoring.batchSize),
           !Limits.unitSamples.contains(unitBatches * scoring.batchSize) {
            let samples = unitBatches * scoring.batchSize, most = Limits.unitSamples.upperBound
            if unitBatchesGiven {
                out.append(("unit_batches", "unit_batches \(unitBatches) × batch_size \(scoring.batchSize) = \(samples) samples per unit; at most \(most) fit in one completion"))
            } else {
                out.append(("scoring.batch_size", "batch_size \(scoring.batchSize) × unit_batches \(unitBatches) (the default) = \(samples) samples per unit; at most \(most) fit in one completion: lower batch_size, or set unit_batches to at most \(max(1, most / scoring.batchSize))"))
            }
        }
        return out
    }

    /// What is valid but unusual in the spec, one line each naming the key: `run` and `submit`
    /// print them before the job starts.
    public var warnings: [String] {
        scoring.warnings().map { "scoring.\($0)" } + fileWarnings
    }

    /// True when any set (ID or OOD) is given as images rather than features.
    public var hasImages: Bool { id.images != nil || ood.contains { $0.data.images != nil } }
}

/// One set of samples: exactly one of `images` / `features`.
public struct DatasetSpec: Sendable, Equatable {
    /// Class-names file (one per line, class-index order). ID set only; needed for the text
    /// prompts unless `negatives.text_features` is given. With `images: {folders: DIR}` and no
    /// `classes`, the folder names are the class names.
    public var classes: String?
    /// Number of ID classes C. ID set only; optional: derived from `classes` (line count), the
    /// class folders, or `text_features` rows − `negatives.count`. When given, it is checked
    /// against each of those.
    public var numClasses: Int?
    public var images: ImageSource?
    /// Precomputed image features, `.npy` N × D (L2-normalised rows).
    public var features: String?
    /// `.npy` of integer labels, one per feature row. Required for ID features (class indices);
    /// optional and ignored for OOD sets (every OOD sample is labelled −1).
    public var labels: String?

    public init(classes: String? = nil, numClasses: Int? = nil, images: ImageSource? = nil,
                features: String? = nil, labels: String? = nil) {
        self.classes = classes
        self.numClasses = numClasses
        self.images = images
        self.features = features
        self.labels = labels
    }
}

/// Where a set's images come from.
public enum ImageSource: Sendable, Equatable {
    /// An OpenOOD image list: `relative/path label` per line, references relative to `dataRoot`.
    case list(String)
    /// A folder per class; sorted folder names give the class indices. References are relative
    /// to this folder (it is the root they resolve against).
    case folders(String)

    public var path: String {
        switch self {
        case .list(let p), .folders(let p): p
        }
    }
}

/// An OOD set and the group it is reported in.
public struct OODSetSpec: Sendable, Equatable {
    /// `[A-Za-z0-9._-]+`, unique within the job.
    public var name: String
    public var group: OODGroup?
    public var data: DatasetSpec

    public init(name: String, group: OODGroup? = nil, data: DatasetSpec) {
        self.name = name
        self.group = group
        self.data = data
    }
}

/// The report groups OOD sets into near- and far-OOD means when groups are given.
public enum OODGroup: String, Sendable, Equatable, Codable, CaseIterable {
    case near, far
}

/// The negative labels.
public struct NegativesSpec: Sendable, Equatable {
    /// M, the number of negative labels. Default 10000.
    public var count: Int
    /// A user candidate list for NegMining instead of WordNet: `word<TAB>noun|adj` per line.
    public var lexicon: String?
    /// Precomputed label text features, (C+M) × D `.npy`, ID classes first. When given,
    /// mining is skipped (and `lexicon` must not be given).
    public var textFeatures: String?
    /// How the negatives are ordered into groups. A spec that names none gets `.seed` of the
    /// job's seed when it is read (a `.file` is checked then, and read again by each scorer).
    public var permutation: PermutationSource

    public init(count: Int = 10000, lexicon: String? = nil, textFeatures: String? = nil,
                permutation: PermutationSource = .seed(0)) {
        self.count = count
        self.lexicon = lexicon
        self.textFeatures = textFeatures
        self.permutation = permutation
    }
}

/// Image preprocessing: resize the shorter side to `resize` (bicubic), centre-crop `crop`.
public struct Preprocessing: Sendable, Equatable {
    /// nil: the model's image size.
    public var resize: Int?
    /// nil: the model's image size.
    public var crop: Int?

    public init(resize: Int? = nil, crop: Int? = nil) {
        self.resize = resize
        self.crop = crop
    }
}
