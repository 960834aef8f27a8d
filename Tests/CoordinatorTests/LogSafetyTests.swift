@testable import Coordinator
import Foundation
import JobPlan
import JobProtocol
import Logging
import Testing

/// Worker ids and error messages arrive in requests; the coordinator logs them. They must not
/// be able to forge log lines or reach the operator's terminal as escape sequences.
@Suite("Log safety")
struct LogSafetyTests {
    @Test("control characters from requests are escaped in log lines and stored verbatim")
    func escapesRequestText() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try FeaturesJob(in: dir, shape: .init(classes: 4, negatives: 12, dimension: 8, idSamples: 20, oodSamples: 10),
                                  kinds: [.covered], batchSize: 8, unitBatches: 1)
        let records = LogRecords()
        let coordinator = try Coordinator(databasePath: ":memory:", configuration: .init(maxAttempts: 1),
                                          logger: Logger(label: "test") { _ in CapturingLogHandler(records: records) })
        _ = try await coordinator.submit(try job.spec())

        let worker = "w1\n[error] forged line\u{1b}[2J"
        let error = "decoder said:\r\nsomething\u{7}\u{202e}"
        let grant = try #require(try await coordinator.lease(worker: worker, host: "h").grant)
        #expect(try await coordinator.fail(unit: grant.unit, worker: worker, error: error) == .failed)

        let logged = records.all.filter { $0.message.contains("unit failed") }
        #expect(logged.count == 1)
        for record in records.all {
            for text in [record.message] + record.metadata.values.map(\.description) {
                #expect(!text.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(text.debugDescription)")
            }
        }
        #expect(logged.first?.metadata["worker"]?.description == #"w1\u{a}[error] forged line\u{1b}[2J"#)
        #expect(logged.first?.metadata["error"]?.description == #"decoder said:\u{d}\u{a}something\u{7}\u{202e}"#)

        let stored = try await coordinator.units(task: grant.task).first { $0.id == grant.unit }
        #expect(stored?.lastError == error)
    }

    @Test("long request text is capped in log lines; letters of any script are kept")
    func capsLength() {
        #expect("wörker-Ω-工人".loggable == "wörker-Ω-工人")
        let long = String(repeating: "x", count: 2_000)
        #expect(long.loggable == String(repeating: "x", count: 500) + "…(1500 more)")
    }
}

/// Log records kept for inspection.
final class LogRecords: @unchecked Sendable {
    struct Record {
        var message: String
        var metadata: Logger.Metadata
    }

    private let lock = NSLock()
    private var records: [Record] = []

    func append(_ record: Record) { lock.withLock { records.append(record) } }
    var all: [Record] { lock.withLock { records } }
}

struct CapturingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        records.append(.init(message: message.description, metadata: self.metadata.merging(metadata ?? [:]) { $1 }))
    }
}
