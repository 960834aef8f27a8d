import AdaNegCore
import Foundation

/// The points of `adaneg sweep`: the Cartesian product of the values each `--set NAME=…` gives,
/// every other parameter at the job's own value. Values are lists (`gap=0.3,0.5`), ranges
/// (`gap=0.3:0.7:0.1`, both ends included) or both (`memleng=1,5:20:5`). Every value is checked
/// with the parameter's own range and words (`ScoringParameter.problem(with:)`), before anything
/// is scored or written.
public struct SweepGrid: Sendable, Equatable {
    /// The swept parameters in `--set` order, each with its values (deduplicated, in order).
    public var axes: [Axis]
    /// The job's own parameters: every point starts from them.
    public var base: ScoringParameters

    public struct Axis: Sendable, Equatable {
        public var parameter: ScoringParameter
        public var values: [ScoringParameter.Value]
    }

    /// Why a `--set` cannot be used; `description` quotes the `--set` and the allowed values.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The grids over 10,000 points that `--max-points` must allow explicitly.
    public static let defaultMaxPoints = 10_000

    public init(axes: [Axis], base: ScoringParameters) {
        self.axes = axes
        self.base = base
    }

    /// Parses the `--set` arguments over the job's parameters.
    public init(sets: [String], base: ScoringParameters, maxPoints: Int = SweepGrid.defaultMaxPoints) throws(Problem) {
        var axes = [Axis]()
        for set in sets {
            let axis = try Self.axis(set, maxValues: maxPoints)
            if let earlier = axes.first(where: { $0.parameter == axis.parameter }) {
                throw Problem("--set '\(set)': \(axis.parameter.key) is already set by an earlier --set (\(earlier.values.count) value\(earlier.values.count == 1 ? "" : "s")); give all its values in one --set")
            }
            axes.append(axis)
        }
        self.init(axes: axes, base: base)
        let count = pointCount
        if count == nil || count! > maxPoints {
            let described = count.map { "\($0) points" } ?? "more points than can be counted"
            throw Problem("the grid has \(described) (\(axes.map { "\($0.values.count) \($0.parameter.key)" }.joined(separator: " × "))), more than --max-points \(maxPoints): narrow a --set, or raise --max-points to run it")
        }
    }

    /// The number of points; nil when it overflows `Int`.
    public var pointCount: Int? {
        var n = 1
        for a in axes {
            let (m, overflow) = n.multipliedReportingOverflow(by: a.values.count)
            if overflow { return nil }
            n = m
        }
        return n
    }

    /// Every point, the last `--set` varying fastest.
    public var points: [ScoringParameters] {
        var out = [base]
        for axis in axes {
            var next = [ScoringParameters]()
            next.reserveCapacity(out.count * axis.values.count)
            for p in out {
                for v in axis.values {
                    var q = p
                    axis.parameter.set(v, in: &q)
                    next.append(q)
                }
            }
            out = next
        }
        return out
    }

    /// One `--set NAME=V1,V2,a:b:step`.
    static func axis(_ text: String, maxValues: Int) throws(Problem) -> Axis {
        guard let eq = text.firstIndex(of: "=") else {
            throw Problem("--set '\(text)': expected NAME=V1,V2,… or NAME=FROM:TO:STEP (NAME one of \(ScoringParameter.allCases.map(\.key).joined(separator: ", ")))")
        }
        let name = text[..<eq].trimmingCharacters(in: .whitespaces)
        guard let parameter = ScoringParameter.named(name) else {
            let known = ScoringParameter.allCases.map(\.key)
            var message = "--set '\(text)': '\(name)' is not a scoring parameter (they are \(known.joined(separator: ", ")))"
            if let guess = closest(to: name, in: known) { message += "; did you mean '\(guess)'?" }
            throw Problem(message)
        }
        let body = text[text.index(after: eq)...]
        let items = body.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if items.allSatisfy(\.isEmpty) {
            throw Problem("--set '\(text)': an empty list of values; \(parameter.key) takes \(parameter.rangeText)")
        }
        var values = [ScoringParameter.Value]()
        for item in items {
            if item.isEmpty {
                throw Problem("--set '\(text)': an empty value in the list; \(parameter.key) takes \(parameter.rangeText)")
            }
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let expanded: [ScoringParameter.Value]
            if parts.count == 1 {
                switch parameter.parse(item) {
                case .success(let v): expanded = [v]
                case .failure(let p): throw Problem("--set '\(text)': \(p.description)")
                }
            } else {
                expanded = try range(parts, item: item, of: parameter, set: text, maxValues: maxValues)
            }
            for v in expanded {
                if let problem = parameter.problem(with: v) {
                    throw Problem("--set '\(text)': \(problem); \(parameter.key) takes \(parameter.rangeText)")
                }
                if !values.contains(v) { values.append(v) }
            }
        }
        return Axis(parameter: parameter, values: values)
    }

    /// `FROM:TO:STEP`, both ends included (a step that does not land on TO stops below it).
    static func range(_ parts: [String], item: String, of parameter: ScoringParameter, set: String,
                      maxValues: Int) throws(Problem) -> [ScoringParameter.Value] {
        let context = "--set '\(set)': the range '\(item)'"
        guard parts.count == 3 else { throw Problem("\(context) is not FROM:TO:STEP") }
        if case .choice = parameter.domain {
            throw Problem("\(context): \(parameter.key) takes \(parameter.rangeText), not a range; list them with commas")
        }
        var ends = [ScoringParameter.Value]()
        for part in parts {
            switch parameter.parse(part) {
            case .success(let v): ends.append(v)
            case .failure(let p): throw Problem("\(context): \(p.description)")
            }
        }
        guard let from = ends[0].asDouble, let to = ends[1].asDouble, let step = ends[2].asDouble, step.isFinite, step > 0 else {
            throw Problem("\(context): the step must be a number above 0")
        }
        guard from.isFinite, to.isFinite, from <= to else { throw Problem("\(context): FROM must not be above TO") }
        let count = ((to - from) / step + 1e-9).rounded(.down) + 1
        guard count <= Double(max(1, maxValues)) else {
            throw Problem("\(context) has \(String(format: "%.0f", count)) values, more than --max-points \(maxValues): narrow the range, or raise --max-points")
        }
        return (0..<Int(count)).map { k in
            let x = from + Double(k) * step
            if case .integer = parameter.domain { return .integer(Int(x.rounded())) }
            // 0.3 + 2 × 0.1 is 0.5000000000000001 in binary: keep the value a person typed.
            return .number(Double(String(format: "%.12g", x)) ?? x)
        }
    }
}
