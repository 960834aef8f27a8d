// libFuzzer target: the JSON bodies of the coordinator's API as its handlers decode them
// (leases, unit requests, completions with their feature blocks) and the completion checks a
// completion must pass before anything is stored; also a work plan as a worker decodes and
// checks it; and the body as a bank sync, through the wire decoder and the checks a sync must pass
// before it is merged (`BankSyncCheck`); and the body as a leased unit's rows (`UnitRowsWire`), which
// must re-encode to itself. Built with Sources/JobProtocol/{Messages,Records,WorkPlan,
// BankWire,BankSync,UnitRows}.swift, Sources/Coordinator/Service/{CompletionCheck,BankSyncCheck}.swift, and
// the AdaNegCore and JobSpec types they use.
import Foundation

/// A small job's plan: C = 5 ID classes, M = 20 negatives, D = 8, units of 16 samples.
let plan = WorkPlan(jobID: 1, jobName: "fuzz", scoring: ScoringParameters(), numID: 5, textFeatures: "/dev/null",
                    labelCount: 25, dimension: 8, permutation: .none, sets: [SetSource(name: "id", group: nil, features: nil, count: 16)],
                    syncEvery: 1, unitBatches: 1, keepFeatures: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    let decoder = JSONDecoder()
    _ = try? decoder.decode(LeaseRequest.self, from: body)
    _ = try? decoder.decode(UnitRequest.self, from: body)
    if let request = try? decoder.decode(CompletionRequest.self, from: body), request.results.isConsistent {
        _ = CompletionCheck.problem(request, plan: plan)
        if let features = request.features, features.problem == nil {
            for i in 0..<min(features.count, 64) { _ = features.feature(i) }
        }
    }
    if let (dimension, sync) = try? BankWire.decodeRequest(body) {
        _ = BankSyncCheck.problem(sync, dimension: dimension, taskDimension: plan.dimension, rowCount: plan.labelCount, samples: 16)
    }
    // A leased unit's rows as a worker receives them: a decoded body re-encodes to the same bytes.
    if let rows = try? UnitRowsWire.decode(body) {
        guard UnitRowsWire.encode(rows) == body else { fatalError("decoded unit rows do not re-encode to the same body") }
        for i in 0..<min(rows.count, 64) { _ = rows.row(i) }
    }
    if let received = try? decoder.decode(WorkPlan.self, from: body) {
        _ = received.problems(availableBytes: 1 << 30)
        _ = received.unitSize
    }
    return 0
}
