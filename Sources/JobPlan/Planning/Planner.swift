import JobProtocol
import AdaNegCore
import Foundation
import JobSpec
import NPY
import Platform

/// Turns a validated job spec into tasks (one per OOD set: the ID set and that OOD set,
/// shuffled by the job's seed), work units (consecutive whole batches of each stream) and the
/// resolved `WorkPlan` workers run from.
public enum Planner {
    public struct Output: Sendable {
        public var tasks: [PlannedTask]
        /// Resolved image references of the image sets, by set index.
        public var items: [(set: Int, refs: [String])]
        /// The plan, given the id the store assigns the job.
        public var plan: @Sendable (Int64) -> WorkPlan
    }

    /// Why a spec cannot be planned: every problem found, each naming its key or file.
    public struct Problems: Error, Equatable {
        public var messages: [String]
    }

    /// Physical memory of this machine: the planner refuses a job that could not run on it.
    /// Workers check the same estimate against their own machine before they allocate.
    static var availableMemory: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    /// `plan` on `BlockingIO`'s threads: planning reads and hashes every input file (a second
    /// or more for large feature files), so a coordinator plans outside its actor and off the
    /// cooperative pool, and leases go on meanwhile.
    public static func planOffPool(_ spec: JobSpec, models: any ModelFacts) async throws(Problems) -> Output {
        try await BlockingIO.run { () throws(Problems) in try plan(spec, models: models) }
    }

    /// `models` reads the facts of the job's model folder (image jobs only).
    public static func plan(_ spec: JobSpec, models: any ModelFacts) throws(Problems) -> Output {
        var problems = [String]()
        problems += spec.scoring.problems().map { "scoring: \($0)" }
        problems += spec.sizeProblems().map { "\($0.key): \($0.message)" }
        // Nothing below multiplies sizes until these are in range.
        guard problems.isEmpty else { throw Problems(messages: problems) }

        // Label text features: mining needs the CLIP text encoder, so jobs name a file for now.
        guard let textPath = spec.negatives.textFeatures else {
            throw Problems(messages: problems + ["negatives.text_features: required here; `adaneg submit` and `adaneg run` mine them from `model` and `id.classes` first, or run `adaneg mine-negatives`"])
        }
        let textShape = shape(of: textPath, role: "negatives.text_features", problems: &problems)
        let model = spec.hasImages ? modelSource(spec, models: models, problems: &problems) : nil
        if let model, let textShape, model.dimension != textShape.cols {
            problems.append("model (\(model.source.path)): embeds into \(model.dimension) dimensions, the text features are \(textShape.cols)-dimensional")
        }
        var idImages: ImageSet?
        if let images = spec.id.images { idImages = imageSet(images, spec: spec, key: "id", isID: true, problems: &problems) }
        let numID: Int
        if spec.id.classes != nil {
            numID = classCount(spec, problems: &problems)
        } else if let n = spec.id.numClasses {
            numID = n
        } else if let classes = idImages?.folderClasses {
            numID = classes.count
        } else {
            throw Problems(messages: problems + ["id: give `classes` (the ID class names) or `num_classes`: C, the number of ID rows of the text features"])
        }

        var sets = [SetSource]()
        var setLabels = [[Int]]()
        var items = [(set: Int, refs: [String])]()
        let allSets: [(String, String?, DatasetSpec)] = [("id", nil, spec.id)] + spec.ood.map { ($0.name, $0.group?.rawValue, $0.data) }
        for (index, (name, group, data)) in allSets.enumerated() {
            let key = index == 0 ? "id" : "ood[\(index - 1)]"
            if let images = data.images {
                let set = index == 0 ? idImages : imageSet(images, spec: spec, key: key, isID: false, problems: &problems)
                let refs = set?.refs ?? []
                var labels = index == 0 ? (set?.labels ?? []) : [Int](repeating: -1, count: refs.count)
                if index == 0, let bad = labels.firstIndex(where: { $0 < 0 || $0 >= numID }) {
                    problems.append("id.images (\(images.path)): image \(bad + 1) has label \(labels[bad]), ID labels must be in 0..<\(numID)")
                    labels = []
                }
                if refs.isEmpty && set != nil { problems.append("\(key).images (\(images.path)): no images") }
                sets.append(SetSource(name: name, group: group, features: nil, count: refs.count, images: true, root: set?.root))
                setLabels.append(labels)
                items.append((index, refs))
                continue
            }
            guard let features = data.features else {
                problems.append("\(key): give `images` or precomputed `features`")
                continue
            }
            let rows = shape(of: features, role: "\(key).features", problems: &problems)
            if let rows, let textShape, rows.cols != textShape.cols {
                problems.append("\(key).features: \(rows.cols)-dimensional, the text features are \(textShape.cols)-dimensional")
            }
            let count = rows?.rows ?? 0
            var labels = [Int](repeating: -1, count: count)
            if index == 0 {
                if let labelPath = data.labels {
                    do {
                        labels = try NPYFile.readIntegers(labelPath)
                        if labels.count != count { problems.append("id.labels: \(Plural.count(labels.count, "label")) for \(Plural.count(count, "feature row"))") }
                        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= numID }) {
                            problems.append("id.labels: label \(bad) is \(labels[bad]), ID labels must be in 0..<\(numID)")
                        }
                    } catch {
                        problems.append("id.labels: \(error)")
                    }
                } else {
                    problems.append("id.labels: required for precomputed ID features")
                }
            }
            sets.append(SetSource(name: name, group: group, features: features, count: count))
            setLabels.append(labels)
        }
        if let textShape, numID >= textShape.rows {
            problems.append("id.classes: \(Plural.count(numID, "class", "classes")) but the text features have only \(Plural.count(textShape.rows, "row")) (C + M)")
        }

        let permutation = spec.negatives.permutation
        if let textShape {
            let m = textShape.rows - numID
            let kept = m - m % max(spec.scoring.groups, 1)
            switch permutation {
            case .none, .seed: break
            case let .file(path):
                do {
                    _ = try NegativePermutation(indices: try NPYFile.readIntegers(path), expectedCount: kept)
                } catch {
                    problems.append("negatives.permutation (\(path)): \(error)")
                }
            case let .given(indices):
                do { _ = try NegativePermutation(indices: indices, expectedCount: kept) } catch {
                    problems.append("negatives.permutation: \(error)")
                }
            }
        }
        guard problems.isEmpty, let textShape else { throw Problems(messages: problems) }
        let unitSize = spec.unitSize
        if let memory = MemoryEstimate.problem(labelCount: textShape.rows, dimension: textShape.cols, unitSize: unitSize,
                                               parameters: spec.scoring, availableBytes: availableMemory) {
            throw Problems(messages: [memory])
        }
        var tasks = [PlannedTask]()
        for k in 1..<sets.count {
            let idCount = sets[0].count
            let total = idCount + sets[k].count
            let order = NegativePermutation.seeded(spec.seed &+ UInt64(k), count: total).indices
            let samples = order.map { i in
                i < idCount ? (set: 0, item: i, label: setLabels[0][i]) : (set: k, item: i - idCount, label: -1)
            }
            let units = stride(from: 0, to: total, by: unitSize).map { $0 ..< min(total, $0 + unitSize) }
            tasks.append(PlannedTask(oodIndex: k, name: sets[k].name, group: sets[k].group, samples: samples, units: units))
        }
        let finalSets = sets
        let modelSource = model?.source
        let artefacts = try artefacts(textFeatures: textPath, permutation: permutation, model: model)
        let inputs = try digests(of: inputFiles(spec).filter { artefacts[$0.path] == nil })
        return Output(tasks: tasks, items: items) { jobID in
            WorkPlan(jobID: jobID, jobName: spec.name, scoring: spec.scoring, numID: numID, textFeatures: textPath,
                     labelCount: textShape.rows, dimension: textShape.cols, permutation: permutation, sets: finalSets,
                     syncEvery: spec.syncEvery, unitBatches: spec.unitBatches, keepFeatures: spec.keepFeatures, model: modelSource,
                     seed: spec.seed, modelName: spec.model, artefacts: artefacts, inputs: inputs)
        }
    }

    /// Every other file the spec names that planning reads, by the key that names it: the
    /// sets' feature files, the ID labels, image lists, the class-names file and a lexicon.
    /// Their digests let every later reader notice a file that changed since submission.
    /// (Image folders and the images themselves are not files the plan reads whole: image
    /// features are stored when first embedded, and that is what rescore reads.)
    static func inputFiles(_ spec: JobSpec) -> [(key: String, path: String)] {
        var files = [(key: String, path: String)]()
        if let classes = spec.id.classes { files.append(("id.classes", classes)) }
        if let lexicon = spec.negatives.lexicon { files.append(("negatives.lexicon", lexicon)) }
        let sets: [(String, DatasetSpec)] = [("id", spec.id)] + spec.ood.enumerated().map { ("ood[\($0.offset)]", $0.element.data) }
        for (key, data) in sets {
            if let features = data.features { files.append(("\(key).features", features)) }
            if let labels = data.labels { files.append(("\(key).labels", labels)) }
            if case let .list(list)? = data.images { files.append(("\(key).images", list)) }
        }
        return files
    }

    /// The digest of each file (once per path; remembered by `InputDigests` so the first
    /// lease does not hash it again), or every file that could not be read.
    private static func digests(of files: [(key: String, path: String)]) throws(Problems) -> [String: ArtefactDigest] {
        var out = [String: ArtefactDigest]()
        var problems = [String]()
        for (key, path) in files where out[path] == nil {
            do {
                out[path] = try InputDigests.shared.digest(of: path)
            } catch {
                problems.append("\(key) (\(path)): \(error)")
            }
        }
        guard problems.isEmpty else { throw Problems(messages: problems) }
        return out
    }

    /// The digests of the files a worker reads by path, so a worker without them (or with other
    /// bytes under the same path) is served the files this job was validated with. Feature
    /// files are not among them: their rows travel in the leases.
    private static func artefacts(textFeatures: String, permutation: PermutationSource, model: PlannedModel?) throws(Problems) -> [String: ArtefactDigest] {
        var files = [("negatives.text_features", textFeatures)]
        if case let .file(path) = permutation { files.append(("negatives.permutation", path)) }
        if let model {
            for name in model.files {
                files.append(("model", URL(fileURLWithPath: model.source.path).appendingPathComponent(name).path))
            }
        }
        return try digests(of: files)
    }

    // MARK: Images

    /// An image set as planned: resolved references and, for the ID set, labels.
    struct ImageSet {
        var refs: [String]
        var labels: [Int]
        /// Class names from the folder layout (ID set given as folders).
        var folderClasses: [String]?
        /// The folder local references resolve against (nil: none, e.g. a list of URLs).
        var root: String?
    }

    /// Reads an image list or class folders and resolves every reference against its root,
    /// refusing those that leave it (unless the job allows it). Problems name the list and line.
    private static func imageSet(_ source: ImageSource, spec: JobSpec, key: String, isID: Bool, problems: inout [String]) -> ImageSet? {
        let entries: [ImageListEntry]
        let root: String?
        var classes: [String]?
        do {
            // The spec's own reader of a set's images (lists or class folders, OOD labels −1).
            guard let samples = try spec.imageSamples(of: DatasetSpec(images: source), isID: isID) else { return nil }
            entries = samples.entries
            root = samples.root
            if isID, case .folders = source { classes = try spec.classNames() }
        } catch {
            problems.append("\(key).images: \(error)")
            return nil
        }
        var refs = [String]()
        refs.reserveCapacity(entries.count)
        var refused = 0
        for (line, entry) in entries.enumerated() {
            do {
                refs.append(try ImageList.resolve(reference: entry.reference, dataRoot: root, allowOutsideRoot: spec.allowOutsideRoot).absoluteString)
            } catch {
                refused += 1
                if refused <= ImageList.maxReportedLines {
                    problems.append("\(key).images (\(source.path)), image \(line + 1) '\(entry.reference)': \(error.problems.map(\.message).joined(separator: "; "))")
                }
            }
        }
        if refused > ImageList.maxReportedLines {
            problems.append("\(key).images (\(source.path)): \(refused - ImageList.maxReportedLines) more references refused")
        }
        return ImageSet(refs: refs, labels: entries.map(\.label), folderClasses: classes, root: root)
    }

    /// The job's model as planned: its source (with the checksum), output dimension and the
    /// checkpoint files workers load.
    struct PlannedModel {
        var source: ModelSource
        var dimension: Int
        var files: [String]
    }

    /// The job's model as workers load it, read through `models` (the model code lives above).
    private static func modelSource(_ spec: JobSpec, models: any ModelFacts, problems: inout [String]) -> PlannedModel? {
        guard let path = spec.model else {
            problems.append("model: required when a set is given as images")
            return nil
        }
        do {
            let facts = try models.describe(folder: path)
            if let crop = spec.preprocessing.crop, crop != facts.imageSize {
                problems.append("preprocessing.crop: \(crop) does not match the model's image size \(facts.imageSize)")
            }
            return PlannedModel(source: ModelSource(path: path, checksum: facts.checksum, resize: spec.preprocessing.resize, crop: spec.preprocessing.crop,
                                                    precision: (spec.precision ?? .fp32).planned(), maxPixels: spec.maxPixels),
                                dimension: facts.dimension, files: facts.files)
        } catch {
            problems.append("model (\(path)): \(error)")
            return nil
        }
    }

    private static func shape(of path: String, role: String, problems: inout [String]) -> (rows: Int, cols: Int)? {
        do {
            // The header only: planning never loads a feature file.
            let header = try NPYFile.readHeader(path)
            guard header.shape.count == 2 else {
                problems.append("\(role) (\(path)): expected a 2-D array, found shape \(header.shape)")
                return nil
            }
            return (header.shape[0], header.shape[1])
        } catch {
            problems.append("\(role): \(error)")
            return nil
        }
    }

    /// The number of ID classes: the spec's one class-names reader (`JobSpec.classNames`).
    private static func classCount(_ spec: JobSpec, problems: inout [String]) -> Int {
        do {
            return try spec.classNames()?.count ?? 0
        } catch {
            problems.append("id.classes: \(error)")
            return 0
        }
    }
}

/// A task as planned, before it is stored.
public struct PlannedTask: Sendable {
    public var oodIndex: Int
    public var name: String
    public var group: String?
    public var samples: [(set: Int, item: Int, label: Int)]
    public var units: [Range<Int>]
}
