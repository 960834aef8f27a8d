import Foundation
import Platform
import Tensor

/// A Hugging Face CLIP checkpoint directory loaded for inference: `config.json`,
/// `model.safetensors` (F32, F16 or BF16, converted to F32 once), `vocab.json` and `merges.txt`.
public final class CLIPModel: Sendable {
    /// Which towers to load: commands that embed only images skip the text weights and vice versa.
    public struct Towers: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let vision = Towers(rawValue: 1)
        public static let text = Towers(rawValue: 2)
        public static let both: Towers = [.vision, .text]
    }

    public struct TowerNotLoaded: Error, CustomStringConvertible {
        public var tower: String
        public var description: String { "the \(tower) tower was not loaded" }
    }

    public let config: CLIPConfig
    public let vision: VisionTransformer?
    public let text: TextTransformer?
    public let tokenizer: CLIPTokenizer?
    /// `exp(logit_scale)` from the checkpoint (100 for OpenAI's models).
    public let logitScale: Float
    /// The precision the towers' matrix products run in (weights converted at load).
    public let precision: Precision
    /// What the converted-weights cache did for this load (nil without a cache).
    public let cacheOutcome: ConvertedWeights.Outcome?

    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"
    public static let vocabFile = "vocab.json"
    public static let mergesFile = "merges.txt"

    /// The files of a model folder the image and text towers are loaded from, relative to the
    /// folder and in a fixed order: what a coordinator ships to a worker that lacks the folder,
    /// and what `ModelChecksum` covers. The tokenizer's files are not among them (workers embed
    /// images only).
    public static func checkpointFiles(in directory: String) throws -> [String] {
        [configFile, weightsFile]
    }

    // MARK: Loading

    /// Loads a model directory. Without `vocab.json`/`merges.txt` the model loads but cannot
    /// tokenize (embedding token ids still works).
    ///
    /// With `weightCache` (a folder, e.g. `ConvertedWeights.defaultRoot()`), the weights are
    /// converted for `precision` once into that folder and mapped from there on every load, so
    /// processes on one machine share them; when the folder cannot be written the model loads
    /// directly, with a warning on standard error.
    public convenience init(directory: String, towers: Towers = .both, precision: Precision = .fp32, weightCache: URL? = nil) throws {
        let dir = URL(fileURLWithPath: directory)
        let configPath = dir.appendingPathComponent(Self.configFile).path
        let weightsPath = dir.appendingPathComponent(Self.weightsFile).path
        guard FileManager.default.fileExists(atPath: configPath) else { throw CheckpointError.missingFile(path: configPath, what: "CLIP config") }
        guard FileManager.default.fileExists(atPath: weightsPath) else { throw CheckpointError.missingFile(path: weightsPath, what: "CLIP weights") }
        let config = try CLIPConfig.load(path: configPath)
        var cached: SafetensorsFile?
        var cacheOutcome: ConvertedWeights.Outcome?
        if let weightCache {
            do {
                let (path, outcome) = try ConvertedWeights.prepare(directory: directory, precision: precision, root: weightCache)
                if case .rebuilt(let reason) = outcome {
                    FileHandle.standardError.write(Data("warning: converted-weights cache \(path) was unusable (\(reason)); rebuilt it\n".utf8))
                }
                cached = try SafetensorsFile(path: path)
                cacheOutcome = outcome
            } catch let error as ConvertedWeights.CacheError {
                FileHandle.standardError.write(Data("warning: \(error); loading \(weightsPath) directly\n".utf8))
            }
        }
        let file = try cached ?? SafetensorsFile(path: weightsPath)
        let vocab = dir.appendingPathComponent(Self.vocabFile).path
        let merges = dir.appendingPathComponent(Self.mergesFile).path
        var tokenizer: CLIPTokenizer?
        if FileManager.default.fileExists(atPath: vocab) || FileManager.default.fileExists(atPath: merges) {
            tokenizer = try CLIPTokenizer(vocabPath: vocab, mergesPath: merges, contextLength: config.text.maxPositionEmbeddings)
        }
        try self.init(config: config, checkpoint: file, tokenizer: tokenizer, towers: towers, precision: precision,
                      cacheOutcome: cacheOutcome, choiceFolder: cached != nil ? weightCache : nil)
    }

    public init(config: CLIPConfig, checkpoint: SafetensorsFile, tokenizer: CLIPTokenizer?, towers: Towers = .both,
                precision: Precision = .fp32, cacheOutcome: ConvertedWeights.Outcome? = nil, choiceFolder: URL? = nil) throws(CheckpointError) {
        self.cacheOutcome = cacheOutcome
        let reader = CheckpointReader(file: checkpoint, precision: precision)
        self.config = config
        self.precision = precision
        self.vision = towers.contains(.vision)
            ? try VisionTransformer(config: config.vision, projectionDim: config.projectionDim,
                                    activation: config.visionActivation, reader: reader)
            : nil
        var text = towers.contains(.text)
            ? try TextTransformer(config: config.text, projectionDim: config.projectionDim,
                                  activation: config.textActivation, reader: reader)
            : nil
        // The text tower's per-machine chunk-size measurement is kept next to the converted weights.
        text?.choiceFolder = choiceFolder
        self.text = text
        self.tokenizer = tokenizer
        if checkpoint.tensors[CheckpointNames.logitScale] != nil {
            let value = try reader.tensor(CheckpointNames.logitScale, [])
            self.logitScale = Foundation.exp(value.first ?? config.logitScaleInitValue)
        } else {
            self.logitScale = Foundation.exp(config.logitScaleInitValue)
        }
    }

    /// Where the product weights live: mapped from a file, or private to this process.
    public var weightMemory: WeightMemory {
        var m = WeightMemory()
        for w in (vision?.encoder.productWeights ?? []) + (text?.encoder.productWeights ?? []) { m.add(w) }
        if let vision { m.add(vision.patchWeight) }
        return m
    }

    // MARK: Text

    public struct NoTokenizer: Error, CustomStringConvertible {
        public var description: String { "the model directory has no vocab.json/merges.txt, so text cannot be tokenized" }
    }

    /// Tokenizes and embeds texts: `count × projection_dim`, rows L2-normalised, in input order.
    public func embedTexts(_ texts: [String]) throws -> Matrix {
        guard let tokenizer else { throw NoTokenizer() }
        guard let text else { throw TowerNotLoaded(tower: "text") }
        let tokens = texts.map { tokenizer.tokenize($0) }
        return Matrix(rows: texts.count, cols: config.projectionDim, storage: try text.embed(tokenSequences: tokens))
    }

    /// Embeds token sequences (start and end tokens included).
    public func embedTokens(_ tokens: [[Int]]) throws -> Matrix {
        guard let text else { throw TowerNotLoaded(tower: "text") }
        return Matrix(rows: tokens.count, cols: config.projectionDim, storage: try text.embed(tokenSequences: tokens))
    }

    // MARK: Images

    /// The preprocessing that matches this model: resize and crop default to its image size.
    public func preprocessor(resize: Int? = nil, crop: Int? = nil) -> ImagePreprocessor {
        ImagePreprocessor(resize: resize ?? config.vision.imageSize, crop: crop ?? config.vision.imageSize)
    }

    /// Embeds preprocessed pixels (`count × 3 × image_size × image_size`).
    public func embedPixels(_ pixels: [Float], count: Int) throws -> Matrix {
        guard let vision else { throw TowerNotLoaded(tower: "vision") }
        return Matrix(rows: count, cols: config.projectionDim, storage: try vision.embed(pixels: pixels, batch: count))
    }

    /// Embeds decoded images with the default preprocessing.
    public func embedImages(_ images: [RGBImage]) throws -> Matrix {
        let pre = preprocessor()
        let per = pre.outputCount
        var pixels = [Float](repeating: 0, count: images.count * per)
        pixels.withUnsafeMutableBufferPointer { buf in
            for (i, image) in images.enumerated() {
                pre.process(image, into: UnsafeMutableBufferPointer(rebasing: buf[(i * per)..<((i + 1) * per)]))
            }
        }
        return try embedPixels(pixels, count: images.count)
    }
}
