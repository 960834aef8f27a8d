import Foundation

/// Child processes for multi-process tests: bounded waits, never fixed sleeps.
enum Wait {
    /// Polls `condition` every 50 ms until it holds or `seconds` pass.
    static func until(_ seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw HarnessError.timeout(what)
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case timeout(String)
    case noPort(String)

    var description: String {
        switch self {
        case let .timeout(what): "timed out waiting for \(what)"
        case let .noPort(output): "the coordinator did not report its port; output: \(output)"
        }
    }
}

/// `adaneg serve` in a child process.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let output = Pipe()

    let scheme: String

    /// `extra`: more `serve` options (`--tls-cert`, `--tokens`, …); with `--tls-cert` it serves https.
    init(db: String, port: Int = 0, leaseSeconds: Double = 2, extra: [String] = []) async throws {
        scheme = extra.contains("--tls-cert") ? "https" : "http"
        process.executableURL = CLI.executable
        process.arguments = ["serve", "--db", db, "--port", "\(port)", "--lease-seconds", "\(leaseSeconds)"] + extra
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        var found: Int?
        while found == nil && Date() < deadline && process.isRunning {
            let chunk = handle.availableData
            if chunk.isEmpty { try await Task.sleep(nanoseconds: 20_000_000); continue }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: "\(scheme)://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let p = Int(digits), text[range.upperBound...].dropFirst(digits.count).first == " " { found = p }
            }
        }
        guard let found else { process.terminate(); throw HarnessError.noPort(text) }
        self.port = found
    }

    var url: URL { URL(string: "\(scheme)://127.0.0.1:\(port)")! }

    func kill9() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// `adaneg worker` in a child process.
final class WorkerProcess: @unchecked Sendable {
    let process = Process()

    init(coordinator: URL, id: String, batchMilliseconds: Int) throws {
        process.executableURL = CLI.executable
        process.arguments = ["worker", "--coordinator", coordinator.absoluteString, "--id", id,
                             "--simulate-batch-ms", "\(batchMilliseconds)", "--threads", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    func terminate() { process.terminate() }

    var exitStatus: Int32 { process.terminationStatus }

    func kill9() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}
