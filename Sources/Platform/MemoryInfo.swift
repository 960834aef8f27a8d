import Foundation

/// Physical memory as Linux reports it in `/proc/meminfo`, for `doctor` and for planning checks.
public struct MemoryInfo: Sendable, Equatable, Codable {
    public var totalBytes: UInt64
    public var availableBytes: UInt64

    /// Reads `/proc/meminfo`; nil where it cannot be read (not Linux, or no procfs).
    public static func current() -> MemoryInfo? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        return parse(meminfo: text)
    }

    /// Parses the `MemTotal:` and `MemAvailable:` lines (values in kB).
    public static func parse(meminfo text: String) -> MemoryInfo? {
        var total: UInt64?, available: UInt64?
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == ":" })
            guard parts.count >= 2, let kb = UInt64(parts[1]) else { continue }
            let (bytes, overflow) = kb.multipliedReportingOverflow(by: 1024)
            guard !overflow else { continue }
            if parts[0] == "MemTotal" { total = bytes }
            if parts[0] == "MemAvailable" { available = bytes }
        }
        guard let total, let available else { return nil }
        return MemoryInfo(totalBytes: total, availableBytes: available)
    }
}
