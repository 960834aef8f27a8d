import Foundation

/// Download progress as one line: `org/name model.safetensors  45.2 MB / 598.6 MB (7%)  112.3 MB/s`.
/// A line a second while a file downloads (none for a file done within a second) and one when it
/// ends, so a log shows the speed without being flooded and reporting costs nothing next to the transfer.
final class ProgressMeter: @unchecked Sendable {
    private let label: String
    private let total: Int64?
    private let already: Int64
    private let report: (@Sendable (String) -> Void)?
    private let started = Date()
    private var received: Int64 = 0
    private lazy var lastReport = started

    init(label: String, total: Int64?, already: Int64, report: (@Sendable (String) -> Void)?) {
        self.label = label
        self.total = total
        self.already = already
        self.report = report
    }

    func advance(by count: Int) {
        let before = received
        received += Int64(count)
        // libcurl hands over 16 KB at a time: look at the clock once per 4 MB, not per piece.
        guard let report, before >> 22 != received >> 22 else { return }
        let now = Date()
        if now.timeIntervalSince(lastReport) >= 1 {
            lastReport = now
            report(Self.line(label: label, done: already + received, total: total,
                             bytesPerSecond: Double(received) / max(now.timeIntervalSince(started), 1e-6)))
        }
    }

    func finish(ok: Bool) {
        guard let report, received > 0 else { return }
        let elapsed = max(Date().timeIntervalSince(started), 1e-6)
        report(Self.line(label: label, done: already + received, total: total, bytesPerSecond: Double(received) / elapsed)
               + (ok ? "  done" : "  interrupted"))
    }

    /// The text of one progress line; pure, so its format is tested without a clock.
    static func line(label: String, done: Int64, total: Int64?, bytesPerSecond: Double) -> String {
        var text = "\(label)  \(megabytes(done))"
        if let total, total > 0 {
            text += " / \(megabytes(total)) (\(Int((Double(done) / Double(total) * 100).rounded(.down)))%)"
        }
        return text + "  \(String(format: "%.1f", bytesPerSecond / 1e6)) MB/s"
    }

    static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f MB", Double(bytes) / 1e6)
    }
}
