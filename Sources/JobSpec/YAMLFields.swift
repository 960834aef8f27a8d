import Foundation
import Yams

/// Collects problems while walking a YAML node tree.
struct ProblemLog {
    var problems: [JobSpecProblem] = []

    mutating func add(_ path: String, _ line: Int?, _ message: String) {
        problems.append(JobSpecProblem(path: path, line: line, message: message))
    }

    mutating func add(_ path: String, _ node: Node?, _ message: String) {
        add(path, node?.mark?.line, message)
    }
}

/// A YAML scalar as the job format reads it (YAML 1.2 core schema, plus yes/no/on/off booleans).
enum ScalarValue {
    case null
    case bool(Bool)
    case int(Int)
    case bigInt(String)      // an integer literal that does not fit in Int (e.g. a UInt64 seed)
    case float(Double)
    case string(String)

    init(_ scalar: Node.Scalar) {
        let s = scalar.string
        guard scalar.style == .plain || scalar.style == .any else { self = .string(s); return }
        switch s {
        case "", "~", "null", "Null", "NULL": self = .null; return
        default: break
        }
        switch s.lowercased() {
        case "true", "yes", "on": self = .bool(true); return
        case "false", "no", "off": self = .bool(false); return
        case ".inf", "+.inf": self = .float(.infinity); return
        case "-.inf": self = .float(-.infinity); return
        case ".nan": self = .float(.nan); return
        default: break
        }
        let digits = s.replacingOccurrences(of: "_", with: "")
        let body = digits.hasPrefix("-") || digits.hasPrefix("+") ? digits.dropFirst() : Substring(digits)
        if !body.isEmpty, body.allSatisfy(\.isASCII), body.allSatisfy(\.isNumber) {
            if let n = Int(digits) { self = .int(n) } else { self = .bigInt(digits) }
            return
        }
        if !body.isEmpty, body.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
           body.contains(where: \.isNumber), let d = Double(digits) {
            self = .float(d)
            return
        }
        self = .string(s)
    }

    var isNull: Bool { if case .null = self { true } else { false } }
}

/// How a node looks, for "expected X, found Y" messages.
func describe(_ node: Node) -> String {
    switch node {
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    case .scalar(let s):
        switch ScalarValue(s) {
        case .null: return "nothing (null)"
        case .bool(let b): return "the boolean \(b)"
        case .int(let n): return "the integer \(n)"
        case .bigInt(let t): return "the integer \(t)"
        case .float(let d): return "the number \(d)"
        case .string(let t): return "the string \"\(t.count > 40 ? String(t.prefix(40)) + "…" : t)\""
        }
    }
}

func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

/// The entries of one YAML mapping, checked against the keys the format knows.
struct Fields {
    let path: String
    let node: Node
    private(set) var values: [String: Node] = [:]

    var line: Int? { node.mark?.line }

    /// Checks that `node` is a mapping whose keys are all in `known`; unknown keys are reported
    /// with the closest known key as a suggestion. Returns nil (after reporting) when `node`
    /// is not a mapping.
    init?(_ node: Node, path: String, known: [String], log: inout ProblemLog, context: String? = nil) {
        guard let mapping = node.mapping else {
            log.add(path.isEmpty ? "" : path, node, "expected a mapping\(context.map { " (\($0))" } ?? ""), found \(describe(node))")
            return nil
        }
        self.path = path
        self.node = node
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                log.add(path, keyNode, "keys must be plain names, found \(describe(keyNode))")
                continue
            }
            let key = keyScalar.string
            guard known.contains(key) else {
                log.add(join(path, key), keyNode, unknownKeyMessage(key, known: known))
                continue
            }
            values[key] = value
        }
    }

    func has(_ key: String) -> Bool {
        guard let v = values[key] else { return false }
        if case .scalar(let s) = v, ScalarValue(s).isNull { return false }
        return true
    }

    /// The value node, nil when absent or null.
    func node(_ key: String) -> Node? { has(key) ? values[key] : nil }

    /// The node of a key, for line numbers (even when null).
    func rawNode(_ key: String) -> Node? { values[key] }

    func lineOf(_ key: String) -> Int? { values[key]?.mark?.line ?? line }

    private func missing(_ key: String, _ expected: String, _ log: inout ProblemLog) {
        if let v = values[key] {
            log.add(join(path, key), v, "has no value; expected \(expected)")
        } else {
            log.add(join(path, key), line, "missing required key '\(key)' (\(expected))")
        }
    }

    func string(_ key: String, required: Bool = false, log: inout ProblemLog) -> String? {
        guard let v = node(key) else {
            if required { missing(key, "a string", &log) }
            return nil
        }
        guard case .scalar(let s) = v else {
            log.add(join(path, key), v, "expected a string, found \(describe(v))")
            return nil
        }
        return s.string
    }

    func int(_ key: String, required: Bool = false, log: inout ProblemLog) -> Int? {
        guard let v = node(key) else {
            if required { missing(key, "an integer", &log) }
            return nil
        }
        if case .scalar(let s) = v, case .int(let n) = ScalarValue(s) { return n }
        if case .scalar(let s) = v, case .bigInt = ScalarValue(s) {
            log.add(join(path, key), v, "integer \(s.string) is out of range")
            return nil
        }
        log.add(join(path, key), v, "expected an integer, found \(describe(v))")
        return nil
    }

    func uint64(_ key: String, log: inout ProblemLog) -> UInt64? {
        guard let v = node(key) else { return nil }
        if case .scalar(let s) = v {
            switch ScalarValue(s) {
            case .int(let n) where n >= 0: return UInt64(n)
            case .bigInt(let t):
                if let u = UInt64(t.hasPrefix("+") ? String(t.dropFirst()) : t) { return u }
                log.add(join(path, key), v, "must be an integer in 0...\(UInt64.max) (got \(t))")
                return nil
            case .int(let n):
                log.add(join(path, key), v, "must be an integer ≥ 0 (got \(n))")
                return nil
            default: break
            }
        }
        log.add(join(path, key), v, "expected a non-negative integer, found \(describe(v))")
        return nil
    }

    func double(_ key: String, log: inout ProblemLog) -> Double? {
        guard let v = node(key) else { return nil }
        if case .scalar(let s) = v {
            switch ScalarValue(s) {
            case .int(let n): return Double(n)
            case .float(let d): return d
            default: break
            }
        }
        log.add(join(path, key), v, "expected a number, found \(describe(v))")
        return nil
    }

    func bool(_ key: String, log: inout ProblemLog) -> Bool? {
        guard let v = node(key) else { return nil }
        if case .scalar(let s) = v, case .bool(let b) = ScalarValue(s) { return b }
        log.add(join(path, key), v, "expected true or false, found \(describe(v))")
        return nil
    }

    /// A string that must be one of `choices`.
    func choice(_ key: String, _ choices: [String], log: inout ProblemLog) -> String? {
        guard let v = node(key) else { return nil }
        guard case .scalar(let s) = v, case .string(let t) = ScalarValue(s) else {
            log.add(join(path, key), v, "expected one of \(choices.joined(separator: ", ")), found \(describe(v))")
            return nil
        }
        guard choices.contains(t) else {
            var message = "'\(t)' is not one of \(choices.joined(separator: ", "))"
            if let guess = closest(to: t, in: choices) { message += "; did you mean '\(guess)'?" }
            log.add(join(path, key), v, message)
            return nil
        }
        return t
    }
}

/// The known word closest to `word` by edit distance, when it is plausibly a typo of it.
func closest(to word: String, in known: [String]) -> String? {
    let w = word.lowercased()
    var best: (String, Int)?
    for k in known {
        let d = editDistance(w, k.lowercased())
        if best == nil || d < best!.1 { best = (k, d) }
    }
    guard let (k, d) = best else { return nil }
    // A typo, a different separator or case, or a prefix/abbreviation.
    let limit = max(2, min(w.count, k.count) / 3)
    if d <= limit { return k }
    let normalised = { (s: String) in s.lowercased().filter { $0.isLetter || $0.isNumber } }
    if normalised(word) == normalised(k) { return k }
    if w.count >= 3, k.lowercased().hasPrefix(w) || w.hasPrefix(k.lowercased()) { return k }
    return nil
}

/// Levenshtein distance over characters.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
