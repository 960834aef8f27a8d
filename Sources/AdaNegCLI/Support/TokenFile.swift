import Foundation
import Platform

/// Reads a bearer token from a file (first line, trimmed).
enum TokenFile {
    static func read(_ path: String?, flag: String = "--token-file") throws -> String? {
        guard let path else { return nil }
        let data: Data
        do { data = try RegularFile.read(path, maxBytes: 1 << 20) } catch {
            throw CommandFailure("\(flag) \(path): cannot read the token file: \(error.reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CommandFailure("\(flag) \(path): the token file is not UTF-8 text")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw CommandFailure("\(path): the token file is empty") }
        return token
    }
}
