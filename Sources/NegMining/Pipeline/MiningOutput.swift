import Foundation

/// Writes into a temporary directory and renames it into place: a failed run leaves nothing.
enum MiningOutput {
    static func write(to out: String, _ body: (String) throws -> Void) throws {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: out).standardizedFileURL
        let parent = target.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let temp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: temp)
        try fm.createDirectory(at: temp, withIntermediateDirectories: true)
        do {
            try body(temp.path)
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.moveItem(at: temp, to: target)
        } catch {
            try? fm.removeItem(at: temp)
            throw MiningError("\(out): \(error)")
        }
    }
}
