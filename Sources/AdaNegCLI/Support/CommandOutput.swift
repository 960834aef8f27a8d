import Foundation
import ModelHub
import NPY
import Platform

/// The commands' side of `OutputTarget` (Platform), the one policy for outputs: its refusals
/// become `CommandFailure`s (exit 2), so every command words them the same way.
extension OutputTarget {
    /// A file output, checked before the command does any work.
    static func checkedFile(_ path: String, flag: String = "--out", replacing: Replaceable, inputs: [Input]) throws -> OutputTarget {
        do { return try file(path, flag: flag, replacing: replacing, inputs: inputs) } catch { throw CommandFailure(error.description) }
    }

    /// A folder output, checked before the command does any work.
    static func checkedFolder(_ path: String, flag: String = "--out", writer: String, extraFiles: [String] = [],
                              inputs: [Input] = []) throws -> OutputTarget {
        do {
            return try folder(path, flag: flag, writer: writer, extraFiles: extraFiles, inputs: inputs)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// Writes a file output (temporary file, then rename).
    func commit(_ data: Data) throws {
        do { try write(data) } catch { throw CommandFailure(error.description) }
    }

    func commit(_ array: NPYArray) throws { try commit(NPYFile.encode(array)) }

    /// Builds a folder output in a temporary folder that `body` fills, then renames it into place.
    func commitFolder(_ body: (_ folder: String) throws -> Void) throws {
        do {
            try writeFolder(body)
        } catch let failure as CommandFailure {
            throw failure
        } catch let error as OutputError {
            throw CommandFailure(error.description)
        } catch {
            throw CommandFailure("\(flag) '\(path)': \(error)")
        }
    }

    /// `--model` as an input the outputs must not replace: a local model folder protects its
    /// files; a Hub id lives in the Hugging Face cache, which no `--out` is meant to name.
    static func model(_ reference: String) -> [Input] {
        guard case let .folder(path) = ModelReference.parse(reference) else { return [] }
        return [Input((path as NSString).expandingTildeInPath, flag: "--model")]
    }
}
