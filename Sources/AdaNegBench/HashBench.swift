import Foundation
import JobPlan
import JobProtocol
import NPY

/// `AdaNegBench hash [rows] [cols] [leases]`: what checking a feature file against its digest
/// recorded at submission costs (BENCHMARKS.md, bench/hash.sh). Writes a rows × cols float32
/// file, hashes it once as the first lease or the planner does (`InputDigests`, a full read),
/// then times the check every later lease makes (a `stat` against the remembered version).
enum HashBench {
    static func main(arguments: [String]) throws {
        let rows = arguments.first.flatMap(Int.init) ?? 60_000
        let cols = arguments.dropFirst().first.flatMap(Int.init) ?? 512
        let leases = arguments.dropFirst(2).first.flatMap(Int.init) ?? 10_000
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-hash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("features.npy").path
        var rng = SystemRandomNumberGenerator()
        try NPYFile.writeMatrix((0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }, rows: rows, cols: cols, to: path)

        let digests = InputDigests()
        var start = Date()
        let digest = try digests.digest(of: path)
        let first = Date().timeIntervalSince(start)
        start = Date()
        for _ in 0..<leases { try digests.verifyNow(path, recorded: digest) }
        let perLease = Date().timeIntervalSince(start) / Double(leases)
        let mb = Double(digest.bytes) / 1e6
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown"
        print("| file | bytes | first check (hash) | MB/s | later check (per lease) | files hashed | load average (1, 5, 15 min) |")
        print("|---|---|---|---|---|---|---|")
        print(String(format: "| %d × %d float32 | %d | %.3f s | %.0f | %.1f µs | %d | %@ |",
                     rows, cols, digest.bytes, first, mb / first, perLease * 1e6, digests.filesHashed, load))
    }
}
