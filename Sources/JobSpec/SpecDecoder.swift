import AdaNegCore
import Foundation
import NPY
import Platform
import Yams

/// The decoding pass: structure first, then (optionally) the files the spec names.
struct SpecDecoder {
    let base: String
    let checkFiles: Bool
    var log = ProblemLog()

    /// Lines of the keys that name files, by key path, for file problems.
    var lines: [String: Int] = [:]

    /// The problems in the order of the spec's lines (a problem about another file, such as a
    /// malformed image-list line, sorts by the line of the key naming that file); ties keep
    /// the order they were found in.
    func sortedProblems() -> [JobSpecProblem] {
        func key(_ p: JobSpecProblem) -> Int {
            (p.file == nil ? p.line : (lines[p.path] ?? lines[p.path.components(separatedBy: ".").first ?? ""])) ?? Int.max
        }
        return log.problems.enumerated()
            .sorted { (key($0.element), $0.offset) < (key($1.element), $1.offset) }
            .map(\.element)
    }

    init(base: String, checkFiles: Bool) {
        self.base = base
        self.checkFiles = checkFiles
    }

    // MARK: Structure

    mutating func decode(_ yaml: String) -> JobSpec? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            log.add("", yamlErrorLine(error), "not valid YAML: \(yamlErrorMessage(error))")
            return nil
        }
        guard let root else {
            log.add("", 1 as Int?, "the spec is empty")
            return nil
        }
        guard let top = Fields(root, path: "", known: JobSpecLoader.topLevelKeys, log: &log, context: "the job spec") else { return nil }

        let name = top.string("name", required: true, log: &log)
        if let name { checkName(name, path: "name", line: top.lineOf("name"), what: "job name") }
        let model = path(top, "model")
        let dataRoot = path(top, "data_root")
        let allowOutsideRoot = top.bool("allow_outside_root", log: &log) ?? false

        var id: DatasetSpec?
        if let node = top.node("id") {
            id = dataset(node, path: "id", isID: true)
        } else {
            log.add("id", top.rawNode("id") ?? root, top.rawNode("id") == nil ? "missing required key 'id' (the in-distribution set)" : "has no value; expected a mapping")
        }

        var ood = [OODSetSpec]()
        var oodComplete = true
        if let node = top.node("ood") {
            if let items = node.sequence {
                if items.isEmpty { log.add("ood", node, "needs at least one OOD set") }
                var seen: [String: Int?] = [:]
                for (i, item) in items.enumerated() {
                    let p = "ood[\(i)]"
                    guard let set = oodSet(item, path: p) else { oodComplete = false; continue }
                    if let first = seen[set.name] {
                        log.add("\(p).name", lines["\(p).name"], "duplicate OOD set name '\(set.name)'" + (first.map { " (first used at line \($0))" } ?? ""))
                    } else {
                        seen[set.name] = lines["\(p).name"]
                    }
                    ood.append(set)
                }
            } else {
                log.add("ood", node, "expected a list of OOD sets, found \(describe(node))")
                oodComplete = false
            }
        } else {
            log.add("ood", top.rawNode("ood") ?? root, top.rawNode("ood") == nil ? "missing required key 'ood' (a list of OOD sets)" : "has no value; expected a list of OOD sets")
            oodComplete = false
        }

        var negatives = NegativesSpec()
        var permutationChoice: PermutationSource?
        if let node = top.node("negatives"), let f = Fields(node, path: "negatives", known: JobSpecLoader.negativesKeys, log: &log) {
            if let count = f.int("count", log: &log) { negatives.count = count }
            lines["negatives.count"] = f.lineOf("count")
            negatives.lexicon = path(f, "lexicon")
            negatives.textFeatures = path(f, "text_features")
            permutationChoice = permutation(f)
        }

        var scoring = ScoringParameters()
        var scoringFields: Fields?
        if let node = top.node("scoring"), let f = Fields(node, path: "scoring", known: JobSpecLoader.scoringKeys, log: &log) {
            scoringFields = f
            // Each key read as its definition says (type, choices); ranges are checked below.
            for parameter in ScoringParameter.allCases {
                let value: ScoringParameter.Value? = switch parameter.domain {
                case .integer: f.int(parameter.key, log: &log).map { .integer($0) }
                case .number: f.double(parameter.key, log: &log).map { .number($0) }
                case .choice(let choices): f.choice(parameter.key, choices, log: &log).map { .choice($0) }
                }
                if let value { parameter.set(value, in: &scoring) }
            }
        }
        for message in scoring.problems() {
            let key = String(message.prefix { $0 != " " })
            log.add("scoring.\(key)", scoringFields?.lineOf(key) ?? top.lineOf("scoring"), message)
        }

        var preprocessing = Preprocessing()
        if let node = top.node("preprocessing"), let f = Fields(node, path: "preprocessing", known: JobSpecLoader.preprocessingKeys, log: &log) {
            preprocessing.resize = f.int("resize", log: &log)
            preprocessing.crop = f.int("crop", log: &log)
            for key in ["resize", "crop"] {
                if let v = key == "resize" ? preprocessing.resize : preprocessing.crop, !JobSpec.Limits.imageSide.contains(v) {
                    log.add("preprocessing.\(key)", f.lineOf(key), v < 1 ? "must be at least 1 (got \(v))"
                                                                     : "must be at most \(JobSpec.Limits.imageSide.upperBound) pixels (got \(v))")
                }
            }
            if let r = preprocessing.resize, let c = preprocessing.crop, r >= 1, c > r {
                log.add("preprocessing.crop", f.lineOf("crop"), "crop \(c) is larger than resize \(r) (the crop is taken from the resized image)")
            }
        }

        let seed = top.uint64("seed", log: &log) ?? 0
        let unitBatches = top.int("unit_batches", log: &log) ?? 8
        let syncEvery = top.int("sync_every", log: &log) ?? 1
        let sizes = JobSpec(name: "", id: DatasetSpec(), ood: [], scoring: scoring, unitBatches: unitBatches, syncEvery: syncEvery)
        for (key, message) in sizes.sizeProblems(unitBatchesGiven: top.has("unit_batches")) {
            log.add(key, key == "scoring.batch_size" ? scoringFields?.lineOf("batch_size") ?? top.lineOf("scoring") : top.lineOf(key), message)
        }
        let keepFeatures = top.bool("keep_features", log: &log) ?? true
        let precision = top.choice("precision", PrecisionChoice.allCases.map(\.rawValue), log: &log).flatMap { PrecisionChoice(rawValue: $0) }
        let maxPixels = top.int("max_pixels", log: &log)
        if let m = maxPixels, !JobSpec.Limits.maxPixels.contains(m) {
            log.add("max_pixels", top.lineOf("max_pixels"), m < 1 ? "must be at least 1 (got \(m))"
                                                                  : "must be at most \(JobSpec.Limits.maxPixels.upperBound) (got \(m))")
        }

        // MARK: Cross-field rules (no files needed)
        let negLine = top.lineOf("negatives")
        if negatives.count < 1 {
            log.add("negatives.count", lines["negatives.count"] ?? negLine, "must be at least 1 (got \(negatives.count))")
        } else if negatives.count > JobSpec.Limits.negatives.upperBound {
            log.add("negatives.count", lines["negatives.count"] ?? negLine, "must be at most \(JobSpec.Limits.negatives.upperBound) (got \(negatives.count))")
        } else if scoring.groups >= 1 && negatives.count < scoring.groups {
            log.add("negatives.count", lines["negatives.count"] ?? negLine,
                    "\(negatives.count) negative labels cannot fill \(scoring.groups) groups (scoring.groups); need count ≥ groups")
        }
        if negatives.lexicon != nil && negatives.textFeatures != nil {
            log.add("negatives.lexicon", lines["negatives.lexicon"], "lexicon is for mining negatives, which text_features skips; give one or the other")
        }
        if let id, oodComplete || !ood.isEmpty {
            let sets = [("id", id)] + ood.enumerated().map { ("ood[\($0.offset)]", $0.element.data) }
            let imageSets = sets.filter { $0.1.images != nil }.map(\.0)
            if model == nil && !imageSets.isEmpty {
                log.add("model", top.line, "missing required key 'model': \(imageSets.joined(separator: ", ")) \(imageSets.count == 1 ? "is given as images" : "are given as images"), which the CLIP model embeds")
            } else if model == nil && negatives.textFeatures == nil {
                log.add("model", top.line, "missing required key 'model': without negatives.text_features the label prompts are embedded and the negatives mined with the CLIP model")
            }
            let foldersGiveNames = if case .folders = id.images { true } else { false }
            if id.classes == nil && negatives.textFeatures == nil && !foldersGiveNames {
                log.add("id.classes", lines["id"], "missing required key 'classes': the ID class names make the text prompts (or give negatives.text_features)")
            }
        }

        // The files are checked even when the structure has problems, so that one submission
        // reports everything; parts that did not decode are left out of the file checks.
        // No permutation, `seed` or `true`: the job's own seed.
        negatives.permutation = permutationChoice ?? .seed(seed)
        // An inline list is structure, checked with or without the file checks.
        if case .given(let indices) = negatives.permutation {
            checkPermutationIndices(indices, source: "the list", count: negatives.count, groups: scoring.groups)
        }
        var spec = JobSpec(
            name: name ?? "", model: model, dataRoot: dataRoot, allowOutsideRoot: allowOutsideRoot,
            id: id ?? DatasetSpec(), ood: ood, negatives: negatives, scoring: scoring, preprocessing: preprocessing,
            seed: seed, unitBatches: unitBatches, syncEvery: syncEvery, keepFeatures: keepFeatures, specText: yaml,
            precision: precision, maxPixels: maxPixels)
        if checkFiles { checkFilesOf(&spec) }
        guard name != nil, id != nil, oodComplete, !ood.isEmpty else { return nil }
        return spec
    }

    /// A path-valued key, resolved against the spec's directory; its line is remembered.
    mutating func path(_ f: Fields, _ key: String) -> String? {
        guard let s = f.string(key, log: &log) else { return nil }
        lines[join(f.path, key)] = f.lineOf(key)
        if s.isEmpty {
            log.add(join(f.path, key), f.lineOf(key), "is an empty path")
            return nil
        }
        return resolvePath(s)
    }

    func resolvePath(_ s: String) -> String {
        let expanded = JobSpecLoader.expandTilde(s)
        return ImageList.normalise(expanded.hasPrefix("/") ? expanded : base + "/" + expanded)
    }

    mutating func checkName(_ name: String, path: String, line: Int?, what: String) {
        let ok = !name.isEmpty && name.unicodeScalars.allSatisfy {
            ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || $0 == "." || $0 == "_" || $0 == "-"
        }
        if !ok { log.add(path, line, "\(what) '\(name)' may only contain letters, digits, '.', '_' and '-'") }
        if name == "." || name == ".." { log.add(path, line, "\(what) cannot be '\(name)'") }
    }

    mutating func dataset(_ node: Node, path p: String, isID: Bool) -> DatasetSpec? {
        guard let f = Fields(node, path: p, known: isID ? JobSpecLoader.idKeys : JobSpecLoader.oodKeys, log: &log,
                             context: isID ? "the ID set" : "an OOD set") else { return nil }
        lines[p] = f.line
        return datasetFields(f, isID: isID)
    }

    mutating func datasetFields(_ f: Fields, isID: Bool) -> DatasetSpec {
        let p = f.path
        var d = DatasetSpec()
        if isID {
            d.classes = path(f, "classes")
            d.numClasses = f.int("num_classes", log: &log)
            if let c = d.numClasses, c < 1 { log.add("\(p).num_classes", f.lineOf("num_classes"), "must be at least 1 (got \(c))") }
            if let c = d.numClasses, c > JobSpec.Limits.numClasses.upperBound {
                log.add("\(p).num_classes", f.lineOf("num_classes"), "must be at most \(JobSpec.Limits.numClasses.upperBound) (got \(c))")
            }
        }
        if let node = f.node("images") {
            lines["\(p).images"] = node.mark?.line
            if case .scalar = node {
                if let s = f.string("images", log: &log) { d.images = .list(resolvePath(s)) }
            } else if let g = Fields(node, path: "\(p).images", known: JobSpecLoader.imageSourceKeys, log: &log,
                                     context: "an image-list path, or {list: FILE} or {folders: DIR}") {
                let list = path(g, "list"), folders = path(g, "folders")
                switch (list, folders) {
                case let (l?, nil): d.images = .list(l)
                case let (nil, dir?): d.images = .folders(dir)
                case (nil, nil):
                    if !g.has("list") && !g.has("folders") {
                        log.add("\(p).images", g.line, "give either list: FILE (an OpenOOD image list) or folders: DIR (a folder per class)")
                    }
                case (_?, _?):
                    log.add("\(p).images", g.line, "give either list or folders, not both")
                }
            }
        }
        d.features = path(f, "features")
        d.labels = path(f, "labels")
        let hasImages = f.has("images"), hasFeatures = f.has("features")
        if hasImages && hasFeatures {
            log.add(p, f.lineOf("features"), "give exactly one of images or features, not both")
        } else if !hasImages && !hasFeatures {
            log.add(p, f.line, "needs images (an image list or class folders) or features (a precomputed .npy)")
        }
        if f.has("labels") && hasImages && !hasFeatures {
            log.add("\(p).labels", f.lineOf("labels"), "labels go with features; image lists carry their labels and class folders imply them")
        }
        if isID && hasFeatures && !hasImages && !f.has("labels") {
            log.add("\(p).labels", f.line, "missing required key 'labels': ID features need their class indices (.npy, one per row)")
        }
        return d
    }

    mutating func oodSet(_ node: Node, path p: String) -> OODSetSpec? {
        guard let f = Fields(node, path: p, known: JobSpecLoader.oodKeys, log: &log, context: "an OOD set") else { return nil }
        lines[p] = f.line
        let name = f.string("name", required: true, log: &log)
        lines["\(p).name"] = f.lineOf("name")
        if let name { checkName(name, path: "\(p).name", line: f.lineOf("name"), what: "OOD set name") }
        var group: OODGroup?
        if let g = f.choice("group", OODGroup.allCases.map(\.rawValue), log: &log) { group = OODGroup(rawValue: g) }
        let data = datasetFields(f, isID: false)
        guard let name else { return nil }
        return OODSetSpec(name: name, group: group, data: data)
    }

    /// nil: the job's seed (resolved by the caller, which knows it).
    mutating func permutation(_ f: Fields) -> PermutationSource? {
        guard let node = f.node("permutation") else { return nil }
        let p = "negatives.permutation"
        lines[p] = node.mark?.line
        if case .sequence(let items) = node { return inlinePermutation(items, node: node) }
        guard case .scalar(let s) = node else {
            log.add(p, node, "expected a seed (integer), a .npy file, a list of indices, 'seed' or 'none'; found \(describe(node))")
            return nil
        }
        switch ScalarValue(s) {
        case .int(let n) where n >= 0: return .seed(UInt64(n))
        case .bigInt(let t) where UInt64(t) != nil: return .seed(UInt64(t)!)
        case .int, .bigInt:
            log.add(p, node, "a permutation seed must be an integer in 0...\(UInt64.max) (got \(s.string))")
            return nil
        case .bool(let b):
            // `false` keeps the file order (documented); `true` says nothing about which order.
            if b {
                log.add(p, node, "'true' is not a permutation: give a seed (an integer), 'seed' (the job's seed), 'none' or false (the file's order), a list of indices, or a .npy file of them")
                return nil
            }
            return PermutationSource.none
        case .string(let t):
            switch t {
            case "none": return PermutationSource.none
            case "seed", "job_seed": return nil
            default: return .file(resolvePath(t))
            }
        case .float, .null:
            log.add(p, node, "expected a seed (integer), a .npy file, a list of indices, 'seed' or 'none'; found \(describe(node))")
            return nil
        }
    }

    /// `permutation: [2, 0, 1, …]`: the indices inline (what `canonicalYAML` writes for a spec
    /// built with `.given`). Whether they are a permutation of the right length is checked
    /// where the negatives' count is known (the file check and the planner).
    private mutating func inlinePermutation(_ items: Node.Sequence, node: Node) -> PermutationSource? {
        let p = "negatives.permutation"
        var indices: [Int] = []
        indices.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .scalar(let s) = item, case .int(let n) = ScalarValue(s), n >= 0 else {
                log.add("\(p)[\(i)]", item, "expected a non-negative integer index; found \(describe(item))")
                return nil
            }
            indices.append(n)
        }
        return .given(indices)
    }
}

// MARK: - YAML errors

private func yamlErrorLine(_ error: any Error) -> Int? {
    guard let error = error as? YamlError else { return nil }
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
    case .duplicatedKeysInMapping(_, let context): return context.mark.line
    default: return nil
    }
}

private func yamlErrorMessage(_ error: any Error) -> String {
    guard let error = error as? YamlError else { return "\(error)" }
    switch error {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
        return problem + (context.map { " (\($0.text))" } ?? "")
    case .duplicatedKeysInMapping(let duplicates, _):
        return "duplicate key\(duplicates.count == 1 ? "" : "s") \(duplicates.map { "'\($0)'" }.joined(separator: ", "))"
    default:
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}
