/// What planning needs to know about an image job's model folder. The model code (CLIP, its
/// configuration reader and checksum) lives above this module and implements this protocol
/// (`CLIPModelFacts` in Worker), so the coordinator plans image jobs without linking CLIP or
/// BLAS, and the facts it records are read by the same code the workers load the model with.
public protocol ModelFacts: Sendable {
    /// Reads the folder's configuration and checksum. An error says what is wrong with the
    /// folder (a missing or malformed file); the planner reports it under the `model` key.
    func describe(folder: String) throws -> ModelDescription
}

/// The facts of one model folder that a plan records or checks.
public struct ModelDescription: Sendable, Equatable {
    /// The side of the square image the vision tower takes (a job's `preprocessing.crop` must
    /// equal it).
    public var imageSize: Int
    /// The embedding width, which must equal the text features' width.
    public var dimension: Int
    /// The checksum that identifies the model on every worker machine.
    public var checksum: String
    /// The checkpoint's files, relative to the folder: what workers fetch when they lack it.
    public var files: [String]

    public init(imageSize: Int, dimension: Int, checksum: String, files: [String]) {
        self.imageSize = imageSize
        self.dimension = dimension
        self.checksum = checksum
        self.files = files
    }
}

/// The model facts of a coordinator that reads no model folders (feature-only benchmarks and
/// tests): an image job is refused, naming why.
public struct NoModelFacts: ModelFacts {
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String { "this coordinator was started without a model reader, so it plans feature jobs only" }
    }

    public init() {}

    public func describe(folder: String) throws -> ModelDescription { throw Unavailable() }
}
