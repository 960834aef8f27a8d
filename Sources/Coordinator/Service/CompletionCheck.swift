import AdaNegCore
import JobPlan
import JobProtocol

/// The checks a completion passes before anything of it is stored. A lease holder is only
/// trusted to hold the lease: a buggy or hostile one could otherwise send `pred: -5`, a score
/// of 1e38 or a negative compute time, which the report would turn into FPR95 = 100% or a
/// negative throughput. Every value here has a mathematical range; anything outside it is
/// refused (HTTP 400) and the unit stays leased, unchanged.
enum CompletionCheck {
    /// Slack for float32 rounding of sums of softmax masses.
    static let slack = 1e-3
    /// A unit that took longer than a year was not timed.
    static let maxSeconds = 365.0 * 86_400

    /// Why the completion cannot be accepted for a unit of `plan`, or nil.
    static func problem(_ request: CompletionRequest, plan: WorkPlan) -> String? {
        let r = request.results
        let conf = plan.scoring.confRange
        let unit = 0.0...1.0
        for i in 0..<r.count {
            if !(0..<plan.numID).contains(r.pred[i]) { return "sample \(i): pred \(r.pred[i]) is not an ID class (0..<\(plan.numID))" }
            if let p = r.predStatic?[i], !(0..<plan.numID).contains(p) { return "sample \(i): predStatic \(p) is not an ID class (0..<\(plan.numID))" }
            if let problem = scoreProblem("conf", r.conf[i], conf, i) ?? scoreProblem("confVanilla", r.confVanilla[i], unit, i)
                ?? scoreProblem("mcm", r.mcm[i], unit, i) ?? scoreProblem("adaptive", r.adaptive[i], unit, i) {
                return problem
            }
            if let error = r.errors[i], error.utf8.count > 4096 { return "sample \(i): the error message is longer than 4096 bytes" }
        }
        for (name, value) in [("computeSeconds", request.computeSeconds), ("waitSeconds", request.waitSeconds)] {
            if !(value.isFinite && (0...maxSeconds).contains(value)) { return "\(name) \(value) is not a duration in [0, \(maxSeconds)] s" }
        }
        if let bank = request.bank {
            let negatives = plan.labelCount - plan.numID
            if !(0...plan.numID).contains(bank.idRows) { return "bank.idRows \(bank.idRows) is outside 0...\(plan.numID) (the ID rows of the plan)" }
            if !(0...max(negatives, 0)).contains(bank.negativeRows) {
                return "bank.negativeRows \(bank.negativeRows) is outside 0...\(negatives) (the negative rows of the plan)"
            }
        }
        return nil
    }

    private static func scoreProblem(_ name: String, _ value: Float, _ range: ClosedRange<Double>, _ i: Int) -> String? {
        let v = Double(value)
        guard v.isFinite, v >= range.lowerBound - slack, v <= range.upperBound + slack else {
            return "sample \(i): \(name) \(value) is outside its range [\(range.lowerBound), \(range.upperBound)]"
        }
        return nil
    }
}
