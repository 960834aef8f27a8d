import AdaNeg
import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report

/// Builders for hand-made report data (the Coordinator's records have no public memberwise
/// initialisers, so a template is decoded once and its public fields set).
enum Make {
    static let resultTemplate: ResultRecord = try! JSONDecoder().decode(ResultRecord.self, from: Data(#"{"position":0,"label":0}"#.utf8))
    static let taskTemplate: TaskRecord = try! JSONDecoder().decode(
        TaskRecord.self, from: Data(#"{"id":1,"job":1,"oodIndex":1,"oodName":"x","sampleCount":0,"bankVersion":0}"#.utf8))

    static func result(_ position: Int, label: Int, pred: Int?, conf: Float?, vanilla: Float?, mcm: Float?, error: String? = nil) -> ResultRecord {
        var r = resultTemplate
        r.position = position
        r.label = label
        r.pred = pred
        r.conf = conf
        r.confVanilla = vanilla
        r.mcm = mcm
        r.adaptive = conf.map { $0 * 0.5 }
        r.error = error
        return r
    }

    static func task(id: Int64, index: Int, name: String, group: String?, samples: Int, bankVersion: Int64 = 7) -> TaskRecord {
        var t = taskTemplate
        t.id = id
        t.oodIndex = index
        t.oodName = name
        t.oodGroup = group
        t.sampleCount = samples
        t.bankVersion = bankVersion
        return t
    }

    static func plan(sets: [SetSource], numID: Int = 4) -> WorkPlan {
        var scoring = ScoringParameters()
        scoring.batchSize = 16
        return WorkPlan(jobID: 1, jobName: "golden", scoring: scoring, numID: numID, textFeatures: "/data/text.npy", labelCount: numID + 40,
                        dimension: 8, permutation: .seed(11), sets: sets, syncEvery: 1, unitBatches: 2, keepFeatures: false)
    }

    static func units(done: Int, pending: Int = 0, leased: Int = 0, failed: Int = 0) -> UnitCounts {
        var u = UnitCounts()
        u.done = done
        u.pending = pending
        u.leased = leased
        u.failed = failed
        return u
    }

    static let worker: WorkerRecord = try! JSONDecoder().decode(
        WorkerRecord.self, from: Data(#"{"id":"w1","host":"node-a","lastSeen":1700000000,"unitsDone":6,"samplesDone":180}"#.utf8))

    static let failedUnit: FailedUnit = try! JSONDecoder().decode(
        FailedUnit.self, from: Data(#"{"unit":12,"task":2,"attempts":3,"error":"worker crashed: out of memory"}"#.utf8))

    static let spec = """
        name: golden
        seed: 11
        id:
          num_classes: 4
          features: /data/id.npy
        ood:
          - {name: Textures, group: far, features: /data/textures.npy}
          - {name: SSB-hard, group: near, features: /data/ssb.npy}

        """

    /// A small deterministic job: 24 ID samples (4 classes) against two OOD sets, with ties,
    /// two errored samples in SSB-hard, a failed unit, and (when `partial`) a set with
    /// results missing.
    static func goldenData(partial: Bool = false) -> ReportData {
        var tasks = [TaskData]()
        let specs: [(String, String, Int, Float)] = [("Textures", "far", 16, 0.9), ("SSB-hard", "near", 20, 0.25)]
        var lcg: UInt64 = 12345
        func next() -> Float {
            lcg = lcg &* 6364136223846793005 &+ 1442695040888963407
            return Float(lcg >> 40) / Float(1 << 24)
        }
        for (k, (name, group, nOOD, shift)) in specs.enumerated() {
            let total = 24 + nOOD
            var rows = [ResultRecord](repeating: resultTemplate, count: total)
            // First 24 positions interleaved: ID on even positions up to 48, the rest OOD.
            var idSeen = 0
            for p in 0..<total {
                let id = (p % 2 == 0 && idSeen < 24) || (total - p <= 24 - idSeen)
                if id { idSeen += 1 }
                let label = id ? (p / 2) % 4 : -1
                let base = (id ? shift : 0) + next()
                // Two decimals: ties within and across classes.
                let conf = (base * 100).rounded() / 100
                let vanilla = ((base * 0.8 + 0.2 * next()) * 100).rounded() / 100
                let mcm = ((0.5 * base + 0.5 * next()) * 100).rounded() / 100
                let pred = id ? (next() < 0.75 ? label : (label + 1) % 4) : Int(next() * 4)
                let errored = name == "SSB-hard" && (p == 5 || p == 30)
                rows[p] = errored ? result(p, label: label, pred: nil, conf: nil, vanilla: nil, mcm: nil, error: "cannot decode image: truncated JPEG")
                    : result(p, label: label, pred: pred, conf: conf, vanilla: vanilla, mcm: mcm)
            }
            if partial && k == 1 { rows = Array(rows.prefix(32)) }
            tasks.append(TaskData(task: task(id: Int64(k + 1), index: k + 1, name: name, group: group, samples: total), results: rows))
        }
        let plan = plan(sets: [SetSource(name: "ID", group: nil, features: "/data/id.npy", count: 24),
                               SetSource(name: "Textures", group: "far", features: "/data/textures.npy", count: 16),
                               SetSource(name: "SSB-hard", group: "near", features: "/data/ssb.npy", count: 20)])
        return ReportData(jobName: "golden", jobID: 1, createdAt: 1_700_000_000, specYAML: spec, plan: plan, tasks: tasks,
                          units: partial ? units(done: 4, pending: 1, leased: 1) : units(done: 5, failed: 1),
                          failedUnits: partial ? [] : [failedUnit], workers: [worker], source: "database golden.sqlite")
    }
}

/// Fixture files: read from the test bundle, written (to regenerate goldens) next to this file.
enum FixtureFiles {
    static func url(_ name: String) -> URL? {
        Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")
    }

    static func read(_ name: String) throws -> String {
        guard let url = url(name) else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: name]) }
        return try String(contentsOf: url, encoding: .utf8)
    }

    static var sourceDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    /// Compares with a golden file; `REPORT_UPDATE_GOLDEN=1` rewrites it instead.
    static func golden(_ name: String, _ actual: String) throws -> String? {
        if ProcessInfo.processInfo.environment["REPORT_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: sourceDirectory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return actual
        }
        return try? read(name)
    }
}

/// A JSON value, decoded strictly (a boolean is never a number and vice versa).
indirect enum JSON: Decodable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([JSON]), object([String: JSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSON].self)) }
    }

    static func parse(_ text: String) throws -> JSON { try JSONDecoder().decode(JSON.self, from: Data(text.utf8)) }

    subscript(key: String) -> JSON? { if case let .object(o) = self { o[key] } else { nil } }
    var string: String? { if case let .string(s) = self { s } else { nil } }
    var double: Double? {
        switch self { case let .integer(i): Double(i) case let .number(d): d default: nil }
    }
    var array: [JSON]? { if case let .array(a) = self { a } else { nil } }
    var object: [String: JSON]? { if case let .object(o) = self { o } else { nil } }
}

/// A minimal JSON Schema (draft 2020-12 subset) validator: `type` (string or list),
/// `required`, `properties`, `additionalProperties` (schema or false), `items`, `enum`,
/// `minimum`, `$ref` to `#/$defs/...`. Enough to pin the report's shape.
struct SchemaValidator {
    let root: JSON

    func validate(_ value: JSON, _ schema: JSON? = nil, path: String = "$") -> [String] {
        var schema = schema ?? root
        if let ref = schema["$ref"]?.string, ref.hasPrefix("#/$defs/"), let target = root["$defs"]?[String(ref.dropFirst(8))] {
            schema = target
        }
        var problems = [String]()
        if let t = schema["type"] {
            let types = t.array?.compactMap(\.string) ?? [t.string ?? ""]
            guard types.contains(where: { Self.matches(value, $0) }) else {
                return ["\(path): expected \(types.joined(separator: "|")), got \(Self.kind(value))"]
            }
        }
        if let options = schema["enum"]?.array, case let .string(s) = value, !options.contains(where: { $0.string == s }) {
            problems.append("\(path): '\(s)' not in enum")
        }
        if let minimum = schema["minimum"]?.double, let n = value.double, n < minimum { problems.append("\(path): \(n) < \(minimum)") }
        if case let .object(object) = value {
            for key in schema["required"]?.array?.compactMap(\.string) ?? [] where object[key] == nil {
                problems.append("\(path): missing required key '\(key)'")
            }
            let properties = schema["properties"]?.object ?? [:]
            for (key, v) in object.sorted(by: { $0.key < $1.key }) {
                if let sub = properties[key] {
                    problems += validate(v, sub, path: "\(path).\(key)")
                } else if let extra = schema["additionalProperties"] {
                    if case let .bool(allowed) = extra {
                        if !allowed { problems.append("\(path): unexpected key '\(key)'") }
                    } else {
                        problems += validate(v, extra, path: "\(path).\(key)")
                    }
                }
            }
        }
        if case let .array(array) = value, let items = schema["items"] {
            for (i, v) in array.enumerated() { problems += validate(v, items, path: "\(path)[\(i)]") }
        }
        return problems
    }

    static func kind(_ v: JSON) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func matches(_ v: JSON, _ type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("integer", .integer), ("number", .integer), ("number", .number),
             ("string", .string), ("array", .array), ("object", .object): true
        default: false
        }
    }
}
