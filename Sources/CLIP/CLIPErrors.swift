/// Why a CLIP checkpoint, tokenizer or image could not be used. Every message names the file,
/// tensor or field at fault, with the expected and found shape or type where that applies.

// MARK: Safetensors

public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case tooShort(path: String, size: Int)
    case badHeaderLength(path: String, declared: UInt64, fileSize: Int)
    case malformedHeader(path: String, reason: String)
    case truncated(path: String, tensor: String, needsBytes: Int, fileHasBytes: Int)
    case badTensorEntry(path: String, tensor: String, reason: String)
    /// Two tensors whose byte ranges share bytes: writing one would change the other, and no
    /// tool writes such a file.
    case overlappingTensors(path: String, first: String, firstBytes: Range<Int>, second: String, secondBytes: Range<Int>)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "\(path): cannot read safetensors file: \(reason)"
        case let .tooShort(path, size):
            "\(path): \(size) bytes is too short for a safetensors file (needs an 8-byte header length)"
        case let .badHeaderLength(path, declared, fileSize):
            "\(path): header length \(declared) does not fit in the file (\(fileSize) bytes): truncated or not a safetensors file"
        case let .malformedHeader(path, reason):
            "\(path): malformed safetensors header: \(reason)"
        case let .truncated(path, tensor, needs, has):
            "\(path): truncated: tensor '\(tensor)' ends at byte \(needs) of the data section, which has only \(has) bytes"
        case let .badTensorEntry(path, tensor, reason):
            "\(path): tensor '\(tensor)': \(reason)"
        case let .overlappingTensors(path, first, a, second, b):
            "\(path): tensors '\(first)' (bytes \(a.lowerBound)..<\(a.upperBound)) and '\(second)' (bytes \(b.lowerBound)..<\(b.upperBound)) overlap"
        }
    }
}

// MARK: Checkpoint

public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case missingTensor(name: String, file: String)
    case wrongShape(name: String, file: String, expected: [Int], found: [Int])
    case unsupportedDType(name: String, file: String, dtype: String)
    case missingFile(path: String, what: String)
    /// A weight that is NaN or ±∞: every embedding would be NaN.
    case nonFinite(name: String, file: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .missingTensor(name, file):
            "\(file): missing tensor '\(name)'"
        case let .wrongShape(name, file, expected, found):
            "\(file): tensor '\(name)' has shape \(found), expected \(expected) from config.json"
        case let .unsupportedDType(name, file, dtype):
            "\(file): tensor '\(name)' has dtype \(dtype); supported: F32, F16, BF16"
        case let .missingFile(path, what):
            "\(path): \(what) not found"
        case let .nonFinite(name, file, index, value):
            "\(file): tensor '\(name)' holds \(value) at element \(index): weights must be finite (every embedding would be NaN)"
        }
    }
}

// MARK: Config

public enum CLIPConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notCLIP(path: String, modelType: String?)
    case invalid(path: String, field: String, reason: String)
    case unknownActivation(path: String, field: String, name: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "\(path): cannot read CLIP config: \(reason)"
        case let .notCLIP(path, modelType):
            "\(path): not a CLIP config (model_type \(modelType.map { "'\($0)'" } ?? "missing"), expected 'clip' with text_config and vision_config)"
        case let .invalid(path, field, reason):
            "\(path): \(field): \(reason)"
        case let .unknownActivation(path, field, name):
            "\(path): \(field) '\(name)' is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)"
        }
    }
}

// MARK: Tokenizer

public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, line: Int?, reason: String)
    case missingToken(path: String, token: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "\(path): cannot read tokenizer file: \(reason)"
        case let .malformed(path, line, reason):
            "\(path)\(line.map { ":\($0)" } ?? ""): \(reason)"
        case let .missingToken(path, token):
            "\(path): the vocabulary has no '\(token)' token"
        }
    }
}

// MARK: Images

public enum ImageError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case notAnImage(path: String)
    case truncated(path: String, detail: String)
    case corrupt(path: String, detail: String)
    case tooLarge(path: String, width: Int, height: Int, limit: Int)
    case outOfMemory(path: String)

    public var description: String {
        switch self {
        case let .missing(path): "\(path): image file not found"
        case let .unreadable(path, reason): "\(path): cannot read image: \(reason)"
        case let .empty(path): "\(path): image file is empty"
        case let .notAnImage(path): "\(path): not an image (only JPEG and PNG are supported)"
        case let .truncated(path, detail): "\(path): image file is truncated (\(detail))"
        case let .corrupt(path, detail): "\(path): corrupt image (\(detail))"
        case let .tooLarge(path, w, h, limit):
            "\(path): \(w)x\(h) = \(w * h) pixels exceeds the pixel limit of \(limit) (max_pixels in a job, --max-pixels on the command line)"
        case let .outOfMemory(path): "\(path): out of memory while decoding"
        }
    }

    /// The path the error is about.
    public var path: String {
        switch self {
        case let .missing(p), let .unreadable(p, _), let .empty(p), let .notAnImage(p), let .truncated(p, _),
             let .corrupt(p, _), let .tooLarge(p, _, _, _), let .outOfMemory(p):
            p
        }
    }
}

// MARK: Model

public enum CLIPModelError: Error, Equatable, CustomStringConvertible {
    case wrongPixelShape(expected: Int, found: Int)
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    case sequenceTooLong(length: Int, maximum: Int)
    case emptySequence

    public var description: String {
        switch self {
        case let .wrongPixelShape(expected, found):
            "pixel buffer holds \(found) values per image, the vision tower needs \(expected) (3 x image_size x image_size)"
        case let .tokenOutOfRange(token, vocabularySize):
            "token id \(token) is outside the vocabulary (size \(vocabularySize))"
        case let .sequenceTooLong(length, maximum):
            "token sequence of length \(length) exceeds max_position_embeddings \(maximum)"
        case .emptySequence:
            "empty token sequence"
        }
    }
}
