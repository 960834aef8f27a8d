import AdaNegCore
import JobProtocol

/// What a bank sync must satisfy before anything of it is merged or stored, beyond its wire
/// format (`BankWire.decodeRequest`): entries are stored and sent to every worker of the task,
/// and a restarted coordinator indexes the stream with their positions. Pure, so the libFuzzer
/// `messages` target runs it on every decoded request.
enum BankSyncCheck {
    /// Why the request cannot be merged into a bank of `rowCount` rows of `taskDimension`
    /// values for a task of `samples` positions, naming the field; nil when it can.
    static func problem(_ request: BankSyncRequest, dimension: Int, taskDimension: Int, rowCount: Int, samples: Int) -> String? {
        guard dimension == taskDimension else {
            return BankWire.Problem.dimensionMismatch(expected: taskDimension, found: dimension).description
        }
        guard request.position <= samples else {
            return "bank sync field 'position': \(request.position) is past the task's \(samples) samples"
        }
        for (i, e) in request.delta.entries.enumerated() {
            if e.key.position < 0 || e.key.position >= samples {
                return "bank entry \(i) field 'position': \(e.key.position) is not a stream position of the task (0 to \(samples - 1))"
            }
            if e.row < 0 || e.row >= rowCount { return "bank entry \(i) field 'row': \(e.row) is not a label row (0 to \(rowCount - 1))" }
            if !e.key.primary.isFinite { return "bank entry \(i) field 'priority': \(e.key.primary) is not finite" }
            if e.feature.count != taskDimension { return "bank entry \(i) field 'feature': \(e.feature.count) values, the task uses \(taskDimension)" }
            if !e.feature.allSatisfy(\.isFinite) { return "bank entry \(i) field 'feature': it has non-finite values" }
        }
        return nil
    }
}
