import Foundation
import Platform

/// Mining's output folder, written under `OutputTarget`'s policy (the one every command's
/// output follows): built in a temporary folder and renamed into place; it replaces only a
/// previous mining output (its `manifest.json` names `adaneg mine-negatives`) or an empty
/// folder, and never a folder that holds one of the inputs.
enum MiningOutput {
    static let writer = "adaneg mine-negatives"

    /// The checked output folder, before anything is embedded.
    static func target(_ out: String, flag: String, inputs: [OutputTarget.Input]) throws -> OutputTarget {
        do { return try OutputTarget.folder(out, flag: flag, writer: writer, inputs: inputs) } catch { throw MiningError(error.description) }
    }

    static func write(_ target: OutputTarget, _ body: (String) throws -> Void) throws {
        do {
            try target.writeFolder(body)
        } catch let error as MiningError {
            throw error
        } catch let error as OutputError {
            throw MiningError(error.description)
        } catch {
            throw MiningError("\(target.flag) '\(target.path)': \(error)")
        }
    }
}
