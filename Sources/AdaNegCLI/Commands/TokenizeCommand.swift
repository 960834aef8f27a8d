import ArgumentParser
import CLIP
import Foundation

/// `adaneg tokenize`: CLIP's BPE token ids of each text, one JSON array per line.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print CLIP token ids (start and end tokens included, no padding) for each text.",
        discussion: """
        Uses the model directory's vocab.json and merges.txt (OpenAI CLIP's byte-level BPE, with \
        its text cleanup: HTML entities, curly quotes, whitespace folding, lower-casing). Texts \
        longer than the context length (max_position_embeddings in config.json, 77 for CLIP) are \
        cut, keeping the end token. One JSON array per text is printed, in order.
        """
    )

    @Option(help: "Hugging Face CLIP model directory (vocab.json, merges.txt, config.json), or a Hub id org/name[@revision].")
    var model: String

    @Argument(help: "Texts to tokenize.")
    var texts: [String] = []

    func run() throws {
        let dir = URL(fileURLWithPath: try ModelArgument.folder(model))
        var contextLength = 77
        let configPath = dir.appendingPathComponent(CLIPModel.configFile).path
        if FileManager.default.fileExists(atPath: configPath) {
            do {
                contextLength = try CLIPConfig.load(path: configPath).text.maxPositionEmbeddings
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        let tokenizer: CLIPTokenizer
        do {
            tokenizer = try CLIPTokenizer(vocabPath: dir.appendingPathComponent(CLIPModel.vocabFile).path,
                                          mergesPath: dir.appendingPathComponent(CLIPModel.mergesFile).path,
                                          contextLength: contextLength)
        } catch {
            throw CommandFailure("\(error)")
        }
        var output = ""
        for text in texts {
            output += "[" + tokenizer.tokenize(text).map(String.init).joined(separator: ", ") + "]\n"
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
