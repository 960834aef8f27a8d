import ArgumentParser
import CLIP
import Foundation
import NPY
import Platform
import Tensor

/// `adaneg embed-text`: CLIP text features, one row per line of the input file.
struct EmbedTextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-text",
        abstract: "Embed texts with a CLIP text tower into an L2-normalised float32 .npy.",
        discussion: """
        FILE holds one text per line (UTF-8; a final newline and Windows line endings are \
        ignored), each embedded exactly as given — no prompt template is added. Row i of the \
        output is line i. Prompts are encoded only up to their end-of-text token and batched by \
        length, which gives the same features as padding to 77.
        """
    )

    @Option(help: "Hugging Face CLIP model directory (config.json, model.safetensors, vocab.json, merges.txt), or a Hub id org/name[@revision].")
    var model: String
    @Option(help: "Text file, one text per line.")
    var texts: String
    @Option(help: "Output .npy (count × projection_dim, float32).")
    var out: String
    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?
    @OptionGroup var precisionOptions: PrecisionOptions
    @OptionGroup var deviceOptions: DeviceOptions

    /// Out-of-range numbers are a user error (exit 2), naming the flag and the value.
    func checkRanges() throws {
        try SharedFlagRanges.checkComputeThreads(threads)
    }

    func run() throws {
        try checkRanges()
        try deviceOptions.textTowerNote()
        let lines = try Self.readLines(texts)
        let output = try OutputTarget.checkedFile(out, replacing: .npy, inputs: [.init(texts, flag: "--texts")] + OutputTarget.model(model))
        if let threads {
            BLAS.setThreads(threads)
            NeuralKernels.activeProcessorCount = threads
        }
        let clip: CLIPModel
        let precision = try precisionOptions.resolve()
        let folder = try ModelArgument.folder(model)
        do { clip = try CLIPModel(directory: folder, towers: .text, precision: precision,
                                       weightCache: ConvertedWeights.configuredRoot()) } catch { throw CommandFailure("\(error)") }
        guard clip.tokenizer != nil else {
            throw CommandFailure("\(model): vocab.json and merges.txt are needed to embed text")
        }
        let empty = lines.enumerated().filter { $0.element.trimmingCharacters(in: .whitespaces).isEmpty }.map { $0.offset + 1 }
        if !empty.isEmpty {
            StandardError.warn("\(texts): \(empty.count) empty line(s) (first: line \(empty[0])) embedded as empty texts")
        }
        let features: Matrix
        do { features = try clip.embedTexts(lines) } catch { throw CommandFailure("\(texts): \(error)") }
        // Never a NaN row in the output: the checkpoint is checked at load, this is the last guard.
        if let (row, _) = features.firstNonFinite() {
            throw CommandFailure("--texts \(texts):\(row + 1): the embedding of this line is not finite (NaN or ±∞)")
        }
        try output.commit(.float32(features.storage, shape: [features.rows, features.cols]))
    }

    /// Lines of a UTF-8 file: `\n` separated, a trailing newline and `\r` line ends dropped.
    static func readLines(_ path: String, flag: String = "--texts") throws -> [String] {
        let data: Data
        do { data = try RegularFile.read(path) } catch {
            throw CommandFailure("\(flag) \(path): \(error.problem == .missing ? "file not found" : error.reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            // Find the first line that is not UTF-8, to point at it.
            var line = 1
            var start = data.startIndex
            for (i, byte) in zip(data.indices, data) where byte == 0x0A {
                if String(data: data[start..<i], encoding: .utf8) == nil { break }
                line += 1
                start = data.index(after: i)
            }
            throw CommandFailure("\(path):\(line): not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}
