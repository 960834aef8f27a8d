import Foundation
import Platform

/// The ID class-names file, the one reader of it (the spec's checks, the planner's class count,
/// NegMining's prompts): UTF-8, one name per line, names trimmed of surrounding blanks, blank
/// lines at the end ignored, a blank line anywhere else refused. Repeated names are allowed
/// (ImageNet's CLIP names have two) and reported, so callers can warn.
public struct ClassNamesFile: Sendable, Equatable {
    public var names: [String]
    /// Lines whose name repeats an earlier line: (line, first line, name), 1-based.
    public var repeats: [(line: Int, first: Int, name: String)]

    public static func == (a: Self, b: Self) -> Bool {
        a.names == b.names && a.repeats.map(\.line) == b.repeats.map(\.line)
    }

    /// Reads `path`; every problem found (at most five blank lines are listed) is one
    /// `JobSpecProblem` with its line, under `key`.
    public static func read(_ path: String, key: String = "id.classes") throws(JobSpecError) -> ClassNamesFile {
        func refuse(_ problems: [JobSpecProblem]) -> JobSpecError { JobSpecError(file: path, problems: problems) }
        let data: Data
        do {
            data = try RegularFile.read(path)
        } catch {
            throw refuse([JobSpecProblem(path: key, message: "cannot read class-names file: \(error)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw refuse([JobSpecProblem(path: key, message: "class-names file \(path) is not UTF-8 text")])
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            ($0.hasSuffix("\r") ? $0.dropLast() : $0).trimmingCharacters(in: .whitespaces)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        let blank = lines.indices.filter { lines[$0].isEmpty }
        guard blank.isEmpty else {
            throw refuse(blank.prefix(5).map {
                JobSpecProblem(path: key, line: $0 + 1, message: "empty class name (one class name per line)", file: path)
            })
        }
        guard !lines.isEmpty else { throw refuse([JobSpecProblem(path: key, message: "class-names file \(path) is empty")]) }
        var firstLine = [String: Int]()
        var repeats = [(line: Int, first: Int, name: String)]()
        for (i, name) in lines.enumerated() {
            if let first = firstLine[name] { repeats.append((i + 1, first, name)) } else { firstLine[name] = i + 1 }
        }
        return ClassNamesFile(names: lines, repeats: repeats)
    }
}
