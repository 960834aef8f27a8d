import Foundation

enum OutputDirectory {
    static func create(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("\(path): cannot create directory: \(error.localizedDescription)")
        }
    }
}
