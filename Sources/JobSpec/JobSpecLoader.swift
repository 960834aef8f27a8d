import AdaNeg
import Foundation
import NPY
import Platform
import Yams

/// Decodes and validates `jobs/*.yaml`.
///
/// Validation collects every problem (unknown keys with a suggestion, wrong types, missing keys,
/// out-of-range values, missing or inconsistent files, malformed image-list lines) and throws
/// them together; nothing is returned unless the spec is clean. Loading has no side effects.
public enum JobSpecLoader {
    // MARK: The keys of the format

    public static let topLevelKeys = [
        "name", "model", "data_root", "allow_outside_root", "id", "ood", "negatives", "scoring",
        "preprocessing", "seed", "unit_batches", "sync_every", "keep_features", "precision",
    ]
    public static let idKeys = ["classes", "num_classes", "images", "features", "labels"]
    public static let oodKeys = ["name", "group", "images", "features", "labels"]
    public static let imageSourceKeys = ["list", "folders"]
    public static let negativesKeys = ["count", "lexicon", "text_features", "permutation"]
    public static let scoringKeys = [
        "memleng", "thres", "gap", "beta", "lambda", "groups", "batch_size", "proxy", "in_score",
        "replacement", "variant", "logit_scale",
    ]
    public static let preprocessingKeys = ["resize", "crop"]

    // MARK: Entry points

    /// Reads, parses and validates a spec file. Relative paths in the spec resolve against the
    /// file's directory. With `checkFiles: false` only the structure is validated (no file is
    /// opened besides the spec itself).
    public static func load(path: String, checkFiles: Bool = true) throws(JobSpecError) -> JobSpec {
        let url = URL(fileURLWithPath: path)
        let text: String
        do {
            let data = try Data(contentsOf: url)
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw JobSpecError(file: path, problems: [JobSpecProblem(path: "", message: "the spec is not UTF-8 text")])
            }
            text = decoded
        } catch let error as JobSpecError {
            throw error
        } catch {
            throw JobSpecError(file: path, problems: [JobSpecProblem(path: "", message: "cannot read the spec: \(reason(error))")])
        }
        let base = url.deletingLastPathComponent().path
        return try parse(yaml: text, baseDirectory: base, checkFiles: checkFiles, file: path)
    }

    /// Parses and validates spec text; relative paths resolve against `baseDirectory`.
    /// `file` only names the spec in the error.
    public static func parse(yaml: String, baseDirectory: String, checkFiles: Bool = true,
                             file: String = "<spec>") throws(JobSpecError) -> JobSpec {
        var decoder = SpecDecoder(base: ImageList.normalise(ImageList.absolute(expandTilde(baseDirectory))), checkFiles: checkFiles)
        let spec = decoder.decode(yaml)
        guard let spec, decoder.log.problems.isEmpty else {
            throw JobSpecError(file: file, problems: decoder.sortedProblems())
        }
        return spec
    }

    /// `ImageList.resolve`, for callers that think of it as part of loading.
    public static func resolve(reference: String, dataRoot: String, allowOutsideRoot: Bool) throws(JobSpecError) -> URL {
        try ImageList.resolve(reference: reference, dataRoot: dataRoot, allowOutsideRoot: allowOutsideRoot)
    }

    static func expandTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return NSHomeDirectory() + path.dropFirst()
    }
}

/// The decoding pass: structure first, then (optionally) the files the spec names.
struct SpecDecoder {
    let base: String
    let checkFiles: Bool
    var log = ProblemLog()

    /// Lines of the keys that name files, by key path, for file problems.
    private var lines: [String: Int] = [:]

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
        if let node = top.node("negatives"), let f = Fields(node, path: "negatives", known: JobSpecLoader.negativesKeys, log: &log) {
            if let count = f.int("count", log: &log) { negatives.count = count }
            lines["negatives.count"] = f.lineOf("count")
            negatives.lexicon = path(f, "lexicon")
            negatives.textFeatures = path(f, "text_features")
            negatives.permutation = permutation(f)
        }

        var scoring = ScoringParameters()
        var scoringFields: Fields?
        if let node = top.node("scoring"), let f = Fields(node, path: "scoring", known: JobSpecLoader.scoringKeys, log: &log) {
            scoringFields = f
            if let v = f.int("memleng", log: &log) { scoring.memoryLength = v }
            if let v = f.double("thres", log: &log) { scoring.threshold = v }
            if let v = f.double("gap", log: &log) { scoring.gap = v }
            if let v = f.double("beta", log: &log) { scoring.beta = v }
            if let v = f.double("lambda", log: &log) { scoring.lambda = v }
            if let v = f.int("groups", log: &log) { scoring.groups = v }
            if let v = f.int("batch_size", log: &log) { scoring.batchSize = v }
            if let v = f.choice("proxy", ProxyKind.allCases.map(\.rawValue), log: &log) { scoring.proxy = ProxyKind(rawValue: v)! }
            if let v = f.choice("in_score", InScoreMode.allCases.map(\.rawValue), log: &log) { scoring.inScore = InScoreMode(rawValue: v)! }
            if let v = f.choice("replacement", ReplacementPolicy.allCases.map(\.rawValue), log: &log) { scoring.replacement = ReplacementPolicy(rawValue: v)! }
            if let v = f.choice("variant", GateVariant.allCases.map(\.rawValue), log: &log) { scoring.variant = GateVariant(rawValue: v)! }
            if let v = f.double("logit_scale", log: &log) { scoring.logitScale = v }
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
        for (key, message) in sizes.sizeProblems { log.add(key, top.lineOf(key), message) }
        let keepFeatures = top.bool("keep_features", log: &log) ?? true
        let precision = top.choice("precision", PrecisionChoice.allCases.map(\.rawValue), log: &log).flatMap { PrecisionChoice(rawValue: $0) }

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
            let listSets = sets.filter { if case .list = $0.1.images { true } else { false } }.map(\.0)
            if dataRoot == nil && !listSets.isEmpty {
                log.add("data_root", top.line, "missing required key 'data_root': the image lists of \(listSets.joined(separator: ", ")) hold paths relative to it")
            }
            let foldersGiveNames = if case .folders = id.images { true } else { false }
            if id.classes == nil && negatives.textFeatures == nil && !foldersGiveNames {
                log.add("id.classes", lines["id"], "missing required key 'classes': the ID class names make the text prompts (or give negatives.text_features)")
            }
        }

        // The files are checked even when the structure has problems, so that one submission
        // reports everything; parts that did not decode are left out of the file checks.
        var spec = JobSpec(
            name: name ?? "", model: model, dataRoot: dataRoot, allowOutsideRoot: allowOutsideRoot,
            id: id ?? DatasetSpec(), ood: ood, negatives: negatives, scoring: scoring, preprocessing: preprocessing,
            seed: seed, unitBatches: unitBatches, syncEvery: syncEvery, keepFeatures: keepFeatures, specText: yaml,
            precision: precision)
        if checkFiles { checkFilesOf(&spec) }
        guard name != nil, id != nil, oodComplete, !ood.isEmpty else { return nil }
        return spec
    }

    /// A path-valued key, resolved against the spec's directory; its line is remembered.
    private mutating func path(_ f: Fields, _ key: String) -> String? {
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

    private mutating func checkName(_ name: String, path: String, line: Int?, what: String) {
        let ok = !name.isEmpty && name.unicodeScalars.allSatisfy {
            ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || $0 == "." || $0 == "_" || $0 == "-"
        }
        if !ok { log.add(path, line, "\(what) '\(name)' may only contain letters, digits, '.', '_' and '-'") }
        if name == "." || name == ".." { log.add(path, line, "\(what) cannot be '\(name)'") }
    }

    private mutating func dataset(_ node: Node, path p: String, isID: Bool) -> DatasetSpec? {
        guard let f = Fields(node, path: p, known: isID ? JobSpecLoader.idKeys : JobSpecLoader.oodKeys, log: &log,
                             context: isID ? "the ID set" : "an OOD set") else { return nil }
        lines[p] = f.line
        return datasetFields(f, isID: isID)
    }

    private mutating func datasetFields(_ f: Fields, isID: Bool) -> DatasetSpec {
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

    private mutating func oodSet(_ node: Node, path p: String) -> OODSetSpec? {
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

    private mutating func permutation(_ f: Fields) -> PermutationSpec {
        guard let node = f.node("permutation") else { return .jobSeed }
        let p = "negatives.permutation"
        lines[p] = node.mark?.line
        guard case .scalar(let s) = node else {
            log.add(p, node, "expected a seed (integer), a .npy file, 'seed' or 'none'; found \(describe(node))")
            return .jobSeed
        }
        switch ScalarValue(s) {
        case .int(let n) where n >= 0: return .seed(UInt64(n))
        case .bigInt(let t) where UInt64(t) != nil: return .seed(UInt64(t)!)
        case .int, .bigInt:
            log.add(p, node, "a permutation seed must be an integer in 0...\(UInt64.max) (got \(s.string))")
            return .jobSeed
        case .bool(let b): return b ? .jobSeed : .none
        case .string(let t):
            switch t {
            case "none": return .none
            case "seed", "job_seed": return .jobSeed
            default: return .file(resolvePath(t))
            }
        case .float, .null:
            log.add(p, node, "expected a seed (integer), a .npy file, 'seed' or 'none'; found \(describe(node))")
            return .jobSeed
        }
    }

    // MARK: Files

    private mutating func fileProblem(_ key: String, _ message: String, file: String? = nil, line: Int? = nil) {
        log.problems.append(JobSpecProblem(path: key, line: line ?? lines[key], message: message, file: file))
    }

    private func exists(_ path: String, directory: Bool? = nil) -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return false }
        return directory.map { $0 == isDir.boolValue } ?? true
    }

    /// Checks that a file exists and is a regular file; reports and returns false otherwise.
    private mutating func requireFile(_ key: String, _ path: String, _ what: String) -> Bool {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            fileProblem(key, "\(what) not found: \(path)")
            return false
        }
        if isDir.boolValue {
            fileProblem(key, "\(what) \(path) is a folder, not a file")
            return false
        }
        return true
    }

    mutating func checkFilesOf(_ spec: inout JobSpec) {
        // Feature dimensions seen, to check they agree: (key, D).
        var dims = [(String, Int)]()
        // Candidate values of C: (where from, key, C).
        var classCounts = [(String, String, Int)]()
        if let c = spec.id.numClasses { classCounts.append(("id.num_classes", "id.num_classes", c)) }

        if let model = spec.model {
            if !exists(model, directory: true) {
                fileProblem("model", exists(model) ? "model \(model) is not a folder (expected the Hugging Face CLIP layout)" : "model folder not found: \(model)")
            } else {
                let missing = ["config.json", "model.safetensors", "vocab.json", "merges.txt"].filter { !exists(model + "/" + $0) }
                if !missing.isEmpty {
                    fileProblem("model", "model folder \(model) lacks \(missing.joined(separator: ", ")) (expected the Hugging Face CLIP layout)")
                }
                if let data = FileManager.default.contents(atPath: model + "/config.json"),
                   let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                   let projection = json["projection_dim"] as? Int {
                    dims.append(("model (projection_dim in config.json)", projection))
                }
            }
        }
        if let root = spec.dataRoot, !exists(root, directory: true) {
            fileProblem("data_root", exists(root) ? "data_root \(root) is not a folder" : "data_root folder not found: \(root)")
        }
        if let classes = spec.id.classes, requireFile("id.classes", classes, "class-names file") {
            if let names = readClassNames(classes, key: "id.classes") {
                classCounts.append(("id.classes (\(names.count) names)", "id.classes", names.count))
            }
        }

        // The sets.
        var idRows: (rows: Int, labels: [Int]?)?
        let sets = [("id", spec.id, true)] + spec.ood.enumerated().map { ("ood[\($0.offset)]", $0.element.data, false) }
        var idListLabels: [Int]?
        for (key, set, isID) in sets {
            switch set.images {
            case .list(let list)?:
                let k = "\(key).images"
                guard requireFile(k, list, "image list") else { break }
                do {
                    let entries = try ImageList.read(path: list, defaultLabel: isID ? nil : -1)
                    if isID { idListLabels = entries.map(\.label) }
                    if let root = spec.dataRoot { checkReferences(entries, key: k, list: list, root: root, allowOutside: spec.allowOutsideRoot) }
                } catch {
                    for var problem in error.problems {
                        problem.path = k
                        problem.file = problem.file ?? list
                        log.problems.append(problem)
                    }
                }
            case .folders(let dir)?:
                let k = "\(key).images"
                do {
                    let (classes, _) = try ImageFolders.read(root: dir)
                    if isID { classCounts.append(("id.images (\(classes.count) class folders)", k, classes.count)) }
                } catch {
                    for problem in error.problems { fileProblem(k, "\(dir): \(problem.message)") }
                }
            case nil: break
            }
            if let features = set.features {
                let k = "\(key).features"
                if requireFile(k, features, "features file"), let info = header(features, key: k) {
                    if info.shape.count != 2 {
                        fileProblem(k, "\(features): expected an N × D matrix, found shape \(info.shape)")
                    } else if info.dtype == .int32 || info.dtype == .int64 {
                        fileProblem(k, "\(features): features must be floating point, found \(info.dtype.rawValue)")
                    } else {
                        if info.rows == 0 { fileProblem(k, "\(features): has no rows") }
                        dims.append((k, info.cols))
                        if let labels = set.labels, isID {
                            idRows = (info.rows, checkLabels(labels, key: "\(key).labels", rows: info.rows))
                        } else if let labels = set.labels {
                            _ = checkLabels(labels, key: "\(key).labels", rows: info.rows)
                        }
                    }
                }
                if let labels = set.labels, !exists(labels) { fileProblem("\(key).labels", "labels file not found: \(labels)") }
            }
        }

        // Negatives.
        if let text = spec.negatives.textFeatures, requireFile("negatives.text_features", text, "text-features file"),
           let info = header(text, key: "negatives.text_features") {
            if info.shape.count != 2 {
                fileProblem("negatives.text_features", "\(text): expected a (C+M) × D matrix, found shape \(info.shape)")
            } else {
                dims.append(("negatives.text_features", info.cols))
                let c = info.rows - spec.negatives.count
                if c < 1 {
                    fileProblem("negatives.text_features", "\(text) has \(info.rows) rows: not enough for negatives.count = \(spec.negatives.count) negative labels plus at least one ID class")
                } else {
                    classCounts.append(("negatives.text_features (\(info.rows) rows − count \(spec.negatives.count))", "negatives.text_features", c))
                }
            }
        }
        if let lexicon = spec.negatives.lexicon, requireFile("negatives.lexicon", lexicon, "lexicon") {
            checkLexicon(lexicon)
        }
        if case .file(let perm) = spec.negatives.permutation, requireFile("negatives.permutation", perm, "permutation file") {
            checkPermutation(perm, count: spec.negatives.count, groups: spec.scoring.groups)
        }

        // C: every source must agree.
        if let (source, _, c) = classCounts.first {
            for (other, key, c2) in classCounts.dropFirst() where c2 != c {
                fileProblem(key, "\(other) gives \(c2) ID classes but \(source) gives \(c)")
            }
            if classCounts.allSatisfy({ $0.2 == c }) { spec.id.numClasses = c }
            let known = spec.id.numClasses ?? c
            if let labels = idRows?.labels { checkClassRange(labels, c: known, key: "id.labels", file: spec.id.labels) }
            if let labels = idListLabels { checkClassRange(labels, c: known, key: "id.images", file: spec.id.images?.path) }
        }
        // D: every source must agree.
        if let (first, d) = dims.first {
            for (key, d2) in dims.dropFirst() where d2 != d {
                let k = key.hasPrefix("model") ? "model" : key
                fileProblem(k, "has feature dimension D = \(d2) but \(first) has D = \(d)")
            }
        }
    }

    private mutating func header(_ path: String, key: String) -> NPYHeaderInfo? {
        do {
            return try NPYFile.readHeader(path)
        } catch {
            fileProblem(key, error.description)
            return nil
        }
    }

    private mutating func readClassNames(_ path: String, key: String) -> [String]? {
        do {
            return try ClassNamesFile.read(path, key: key).names
        } catch {
            for problem in error.problems { fileProblem(key, problem.message, file: problem.file, line: problem.line) }
            return nil
        }
    }

    private mutating func checkReferences(_ entries: [ImageListEntry], key: String, list: String, root: String, allowOutside: Bool) {
        var bad = 0
        // Report by list line: recompute line numbers only for the few bad entries.
        var badReferences = [(String, String)]()
        for entry in entries {
            if let message = ImageList.lexicalProblem(reference: entry.reference, dataRoot: root, allowOutsideRoot: allowOutside) {
                bad += 1
                if badReferences.count < ImageList.maxReportedLines { badReferences.append((entry.reference, message)) }
            }
        }
        guard bad > 0 else { return }
        let lineOf = listLineNumbers(list, references: Set(badReferences.map(\.0)))
        for (reference, message) in badReferences {
            fileProblem(key, message, file: list, line: lineOf[reference])
        }
        if bad > badReferences.count {
            fileProblem(key, "\(bad - badReferences.count) more references leave the data root (\(bad) in all)", file: list)
        }
    }

    /// The first line on which each of `references` appears in a list file.
    private func listLineNumbers(_ list: String, references: Set<String>) -> [String: Int] {
        guard let data = FileManager.default.contents(atPath: list) else { return [:] }
        var out = [String: Int]()
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let first = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first else { continue }
            let token = String(first).hasPrefix("\u{FEFF}") ? String(first.dropFirst()) : String(first)
            if references.contains(token), out[token] == nil { out[token] = i + 1 }
        }
        return out
    }

    /// Reads a labels file; checks one integer per row. Returns the labels when readable.
    private mutating func checkLabels(_ path: String, key: String, rows: Int) -> [Int]? {
        guard exists(path) else { return nil } // reported by the caller
        do {
            let array = try NPYFile.read(path)
            guard array.shape.count == 1 || (array.shape.count == 2 && array.shape[1] == 1) else {
                fileProblem(key, "\(path): expected one label per row (shape (N,)), found shape \(array.shape)")
                return nil
            }
            let labels = try array.integers()
            if labels.count != rows {
                fileProblem(key, "\(path) has \(labels.count) labels but the features have \(rows) rows")
                return nil
            }
            return labels
        } catch {
            fileProblem(key, error.description)
            return nil
        }
    }

    private mutating func checkClassRange(_ labels: [Int], c: Int, key: String, file: String?) {
        let bad = labels.indices.filter { labels[$0] < 0 || labels[$0] >= c }
        guard let first = bad.first else { return }
        fileProblem(key, "\(bad.count) ID label\(bad.count == 1 ? " is" : "s are") outside 0..<\(c) (the first: \(labels[first]) at entry \(first))", file: file)
    }

    private mutating func checkLexicon(_ path: String) {
        do {
            _ = try LexiconFile.read(path)
        } catch {
            for problem in error.problems { fileProblem("negatives.lexicon", problem.message, file: problem.file, line: problem.line) }
        }
    }

    private mutating func checkPermutation(_ path: String, count: Int, groups: Int) {
        guard groups >= 1, count >= groups else { return }
        let expected = count - count % groups
        do {
            let array = try NPYFile.read(path)
            guard array.shape.count == 1 || (array.shape.count == 2 && (array.shape[0] == 1 || array.shape[1] == 1)) else {
                fileProblem("negatives.permutation", "\(path): expected a 1-D array of indices, found shape \(array.shape)")
                return
            }
            let values = try array.integers()
            guard values.count == expected else {
                fileProblem("negatives.permutation", "\(path) has \(values.count) indices; negatives.count = \(count) in \(groups) groups needs \(expected)")
                return
            }
            var seen = [Bool](repeating: false, count: expected)
            for (i, v) in values.enumerated() {
                guard v >= 0, v < expected, !seen[v] else {
                    fileProblem("negatives.permutation", "\(path) is not a permutation of 0..<\(expected): element \(i) is \(v)\(v >= 0 && v < expected ? " (repeated)" : "")")
                    return
                }
                seen[v] = true
            }
        } catch {
            fileProblem("negatives.permutation", error.description)
        }
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
