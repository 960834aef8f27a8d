import Foundation

/// What a worker id and a host name may be, wherever one enters: the coordinator's routes
/// (lease, heartbeat, complete, fail, release) and `adaneg worker --id`. One definition, so a
/// worker never starts with an id its coordinator would refuse.
///
/// Why: ids and host names are stored, then printed by `status`, `report` and the logs, and
/// used as keys. An empty one cannot be told apart, a long one floods every screen, and one
/// with control characters could drive the operator's terminal; the printers escape them
/// anyway (`TerminalText`), but none should be stored in the first place.
public enum WorkerIdentity {
    /// The longest id or host name accepted (a fully qualified host name is at most 253).
    public static let maxLength = 253

    /// ASCII letters and digits and `. _ - : @ +`: host names, `host-pid`, Slurm's
    /// `job_task`, Kubernetes pod names, `user@host`.
    public static func isAllowed(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-", ":", "@", "+": true
        default: false
        }
    }

    /// Why `value` cannot be the `field` (for example "worker", "host" or "--id"), or nil
    /// when it can. The offending character is named by its code, never echoed raw.
    public static func problem(_ value: String, field: String) -> String? {
        if value.isEmpty { return "\(field) is empty: give a name of 1 to \(maxLength) characters" }
        let count = value.unicodeScalars.count
        if count > maxLength { return "\(field) is \(count) characters long; at most \(maxLength) are allowed" }
        if let (offset, bad) = value.unicodeScalars.enumerated().first(where: { !isAllowed($0.element) }) {
            return "\(field) has the character \(String(format: "U+%04X", bad.value)) at position \(offset + 1); only ASCII letters, digits and . _ - : @ + are allowed"
        }
        return nil
    }

    /// `value` with every character outside the allowed set replaced by `_`, shortened to
    /// `maxLength` (`fallback` when nothing is left): for names adaneg picks itself, such as
    /// the machine's host name.
    public static func sanitized(_ value: String, fallback: String) -> String {
        let kept = String(String.UnicodeScalarView(value.unicodeScalars.prefix(maxLength).map { isAllowed($0) ? $0 : "_" }))
        return kept.isEmpty ? fallback : kept
    }
}
