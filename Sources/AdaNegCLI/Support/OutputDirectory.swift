import Foundation
import Platform

/// The folder an output goes into (`run --db`'s), created with its parents.
enum OutputDirectory {
    static func create(_ path: String, flag: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("\(flag): cannot create the folder '\(path)': \(OutputTarget.reason(error))")
        }
    }
}
