import Foundation
import NPY
import Platform

/// The file pass: every file the spec names exists and agrees with the rest (shapes, label
/// ranges, image references, class names, lexicon, permutation).
extension SpecDecoder {
    mutating func fileProblem(_ key: String, _ message: String, file: String? = nil, line: Int? = nil) {
        log.problems.append(JobSpecProblem(path: key, line: line ?? lines[key], message: message, file: file))
    }

    func exists(_ path: String, directory: Bool? = nil) -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return false }
        return directory.map { $0 == isDir.boolValue } ?? true
    }

    /// Checks that a file exists and is a regular file (a FIFO, a device or a socket would block
    /// or never end when read); reports and returns false otherwise. Nothing is opened.
    mutating func requireFile(_ key: String, _ path: String, _ what: String) -> Bool {
        do {
            try RegularFile.check(path)
            return true
        } catch {
            fileProblem(key, Self.refusal(error, what: what))
            return false
        }
    }

    /// A `RegularFile` refusal in the words of the spec's checks.
    static func refusal(_ error: RegularFileError, what: String) -> String {
        switch error.problem {
        case .missing: "\(what) not found: \(error.path)"
        case let .notRegular(kind): "\(what) \(error.path) is \(kind), not a regular file"
        case let .unreadable(reason): "\(what) \(error.path) cannot be read: \(reason)"
        }
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
                let files = ["config.json", "model.safetensors", "vocab.json", "merges.txt"]
                let missing = files.filter { !exists(model + "/" + $0) }
                if !missing.isEmpty {
                    fileProblem("model", "model folder \(model) lacks \(missing.joined(separator: ", ")) (expected the Hugging Face CLIP layout)")
                }
                for file in files where exists(model + "/" + file) {
                    do { try RegularFile.check(model + "/" + file) } catch { fileProblem("model", Self.refusal(error, what: "model file")) }
                }
                if let data = try? RegularFile.read(model + "/config.json"),
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
                    checkReferences(entries, key: k, list: list, root: spec.dataRoot, allowOutside: spec.allowOutsideRoot)
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
                if let labels = set.labels { _ = requireFile("\(key).labels", labels, "labels file") }
            }
        }

        // Negatives.
        if let text = spec.negatives.textFeatures, requireFile("negatives.text_features", text, "text-features file"),
           let info = header(text, key: "negatives.text_features") {
            if info.shape.count != 2 {
                fileProblem("negatives.text_features", "\(text): expected a (C+M) × D matrix, found shape \(info.shape)")
            } else {
                dims.append(("negatives.text_features", info.cols))
                checkFinite(text, key: "negatives.text_features")
                let c = info.rows - spec.negatives.count
                if c < 1 {
                    fileProblem("negatives.text_features", "\(text) has \(Plural.count(info.rows, "row")): not enough for negatives.count = \(spec.negatives.count) negative labels plus at least one ID class")
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

        // C from the text features alone, and ID labels that use fewer classes: either the ID
        // set lacks some classes (a sample of a large set) or negatives.count is too small and
        // the rows between are negative labels scored as ID classes. Said, not refused.
        if classCounts.count == 1, let (_, key, c) = classCounts.first, key == "negatives.text_features",
           let labels = idRows?.labels ?? idListLabels, let top = labels.max(), top >= 0, top + 1 < c {
            let rows = c + spec.negatives.count
            spec.fileWarnings.append("negatives.count: negatives.text_features has \(rows) rows, so negatives.count = \(spec.negatives.count) leaves C = \(c) ID classes, but the ID labels use only 0..<\(top + 1): if the text features hold \(top + 1) ID classes, \(c - top - 1) negative labels are scored as ID classes (set negatives.count to \(rows - top - 1)); give id.num_classes: \(c) to confirm C and silence this")
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

    mutating func header(_ path: String, key: String) -> NPYHeaderInfo? {
        do {
            return try NPYFile.readHeader(path)
        } catch {
            fileProblem(key, error.description)
            return nil
        }
    }

    /// Label text features are every sample's scores: one NaN or ±∞ makes every score NaN, so
    /// such a file is refused at submission, naming its first bad row.
    mutating func checkFinite(_ path: String, key: String) {
        guard let array = try? NPYFile.read(path), let shape = array.matrixShape, shape.cols > 0 else { return }
        let values = array.floats()
        guard let bad = values.firstIndex(where: { !$0.isFinite }) else { return }
        fileProblem(key, "row \(bad / shape.cols) of \(path) is not finite (\(values[bad]) in column \(bad % shape.cols)): every score would be NaN")
    }

    mutating func readClassNames(_ path: String, key: String) -> [String]? {
        do {
            return try ClassNamesFile.read(path, key: key).names
        } catch {
            for problem in error.problems { fileProblem(key, problem.message, file: problem.file, line: problem.line) }
            return nil
        }
    }

    mutating func checkReferences(_ entries: [ImageListEntry], key: String, list: String, root: String?, allowOutside: Bool) {
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
    func listLineNumbers(_ list: String, references: Set<String>) -> [String: Int] {
        guard let data = try? RegularFile.read(list) else { return [:] }
        var out = [String: Int]()
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let first = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first else { continue }
            let token = String(first).hasPrefix("\u{FEFF}") ? String(first.dropFirst()) : String(first)
            if references.contains(token), out[token] == nil { out[token] = i + 1 }
        }
        return out
    }

    /// Reads a labels file; checks one integer per row. Returns the labels when readable.
    mutating func checkLabels(_ path: String, key: String, rows: Int) -> [Int]? {
        guard RegularFile.isRegular(path) else { return nil } // reported by the caller
        do {
            let array = try NPYFile.read(path)
            guard array.shape.count == 1 || (array.shape.count == 2 && array.shape[1] == 1) else {
                fileProblem(key, "\(path): expected one label per row (shape (N,)), found shape \(array.shape)")
                return nil
            }
            let labels = try array.integers()
            if labels.count != rows {
                fileProblem(key, "\(path) has \(Plural.count(labels.count, "label")) but the features have \(Plural.count(rows, "row"))")
                return nil
            }
            return labels
        } catch {
            fileProblem(key, error.description)
            return nil
        }
    }

    mutating func checkClassRange(_ labels: [Int], c: Int, key: String, file: String?) {
        let bad = labels.indices.filter { labels[$0] < 0 || labels[$0] >= c }
        guard let first = bad.first else { return }
        fileProblem(key, "\(bad.count) ID label\(bad.count == 1 ? " is" : "s are") outside 0..<\(c) (the first: \(labels[first]) at entry \(first))", file: file)
    }

    mutating func checkLexicon(_ path: String) {
        do {
            _ = try LexiconFile.read(path)
        } catch {
            for problem in error.problems { fileProblem("negatives.lexicon", problem.message, file: problem.file, line: problem.line) }
        }
    }

    mutating func checkPermutation(_ path: String, count: Int, groups: Int) {
        guard groups >= 1, count >= groups else { return }
        let expected = count - count % groups
        do {
            let array = try NPYFile.read(path)
            guard array.shape.count == 1 || (array.shape.count == 2 && (array.shape[0] == 1 || array.shape[1] == 1)) else {
                fileProblem("negatives.permutation", "\(path): expected a 1-D array of indices, found shape \(array.shape)")
                return
            }
            checkPermutationIndices(try array.integers(), source: path, count: count, groups: groups)
        } catch {
            fileProblem("negatives.permutation", error.description)
        }
    }

    /// The indices must be a permutation of `0 ..< count − count mod groups`.
    mutating func checkPermutationIndices(_ values: [Int], source: String, count: Int, groups: Int) {
        guard groups >= 1, count >= groups else { return }
        let expected = count - count % groups
        guard values.count == expected else {
            fileProblem("negatives.permutation", "\(source) has \(values.count) indices; negatives.count = \(count) in \(groups) groups needs \(expected)")
            return
        }
        var seen = [Bool](repeating: false, count: expected)
        for (i, v) in values.enumerated() {
            guard v >= 0, v < expected, !seen[v] else {
                fileProblem("negatives.permutation", "\(source) is not a permutation of 0..<\(expected): element \(i) is \(v)\(v >= 0 && v < expected ? " (repeated)" : "")")
                return
            }
            seen[v] = true
        }
    }
}
