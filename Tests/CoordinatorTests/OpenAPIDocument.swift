import Foundation

/// `openapi.yaml`'s operations as "METHOD /path", each with the lines under it: the one reader
/// of the document the API tests compare with the router.
enum OpenAPIDocument {
    static func operations() throws -> [String: [Substring]] {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("openapi.yaml").path) {
            url.deleteLastPathComponent()
        }
        let text = try String(contentsOf: url.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var operations: [String: [Substring]] = [:]
        var path: String?
        var operation: String?
        var inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
                operation = nil
            } else if let p = path, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(String(method)) {
                    operation = "\(method.uppercased()) \(p)"
                    operations[operation!] = []
                }
            } else if let op = operation {
                operations[op]?.append(line)
            }
        }
        return operations
    }
}
