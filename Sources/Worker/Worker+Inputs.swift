import AdaNeg
import Foundation
import JobPlan
import JobProtocol
import Logging
import NPY
import Platform
import ServiceLifecycle
import Tensor

/// What a unit is scored from: the job's plan, the task's bank replica and text features, and
/// the unit's features (feature-file rows, stored image features, or images embedded here).
extension Worker {
    func plan(_ job: Int64) async throws -> WorkPlan {
        if let plan = plans[job] { return plan }
        let planned = try await api.plan(job: job)
        let problems = planned.problems(availableBytes: Int(clamping: ProcessInfo.processInfo.physicalMemory))
        guard problems.isEmpty else { throw WorkerError.plan(problems.joined(separator: "; ")) }
        let plan = try await localized(planned)
        plans[job] = plan
        return plan
    }

    /// The task's scorer, created on first use with the full bank pulled from the coordinator.
    func replica(task: Int64, plan: WorkPlan) async throws -> TaskReplica {
        if var r = replicas.removeValue(forKey: task) {
            // Catch up on what other workers merged since this replica last synced.
            r.version = try await BankCatchUp.step(api, task: task, since: r.version, position: 0, delta: BankDelta(), scoringAt: nil,
                                                   dimension: plan.dimension, maxWait: 30) { r.scorer.mergeBank($0) }.version
            return r
        }
        let text = try textFeatures(plan)
        let permutation = try plan.loadPermutation()
        var scorer: AdaNegScorer
        do {
            scorer = try AdaNegScorer(text: text, numID: plan.numID, parameters: plan.scoring, permutation: permutation, recordsDelta: true)
        } catch {
            throw WorkerError.plan(error.description)
        }
        let version = try await BankCatchUp.step(api, task: task, since: 0, position: 0, delta: BankDelta(), scoringAt: nil,
                                                 dimension: plan.dimension, maxWait: 30) { scorer.mergeBank($0) }.version
        return TaskReplica(scorer: scorer, version: version)
    }

    func textFeatures(_ plan: WorkPlan) throws -> Matrix {
        if let t = texts[plan.textFeatures] { return t }
        let m = try plan.loadTextFeatures()
        texts[plan.textFeatures] = m
        return m
    }

    /// A unit's features in stream order, which samples have none and why, and the image
    /// features this worker computed (sent with the completion to be stored).
    struct UnitInputs {
        var features: Matrix
        var errors: [String?]
        var upload: StoredFeatures?
    }

    func inputs(for grant: LeaseGrant, plan: WorkPlan) async throws -> UnitInputs {
        let d = plan.dimension
        guard grant.items.count == grant.count, grant.labels.count == grant.count, grant.count <= plan.unitSize else {
            throw WorkerError.plan("unit \(grant.unit): the lease lists \(grant.count) sets, \(grant.items.count) items and \(grant.labels.count) labels for a unit of at most \(plan.unitSize) samples")
        }
        let rows = try await featureRows(grant, plan: plan)
        try await checkOwnCopies(grant, plan: plan, rows: rows)
        var out = Matrix(rows: grant.count, cols: d)
        var errors = [String?](repeating: nil, count: grant.count)
        var toEmbed = [Int]()
        for i in 0..<grant.count {
            let set = grant.sets[i]
            guard set >= 0, set < plan.sets.count else { throw WorkerError.plan("sample \(grant.firstSample + i): set \(set) is not in the plan") }
            if let path = plan.sets[set].features, let received = rows?.row(i) {
                // The coordinator's copy of the file's row: checked and normalised here by the
                // same step as a row read from the file (`FeatureFileRows.normalized`).
                let row: [Float]
                do {
                    row = try FeatureFileRows.normalized(Array(received), path: path, item: grant.items[i])
                } catch {
                    // NaN or ±∞ in the file: that sample's error; its slot is left out of the batch.
                    errors[i] = error.description
                    continue
                }
                out.setRow(i, row)
                if row.allSatisfy({ $0 == 0 }) {
                    errors[i] = "\(path): row \(grant.items[i]) is all zeros (an image that could not be embedded)"
                }
            } else if let path = plan.sets[set].features {
                // Rows the coordinator could not read: this machine's copy of the file, checked
                // by `checkOwnCopies` against the digest recorded at submission.
                let source = try featureFiles.reader(path)
                guard source.cols == d else { throw WorkerError.input("\(path): \(source.cols) columns, the plan expects \(d)") }
                let item = grant.items[i]
                let read = Result { () throws(NPYError) in try featureFiles.normalizedRow(path, item: item) }
                if case .failure(let error) = read, case .nonFiniteRow = error {
                    // NaN or ±∞ in the file: that sample's error; its slot is left out of the batch.
                    errors[i] = error.description
                    continue
                }
                guard let row = try read.get() else { throw WorkerError.input("\(path): row \(item) out of range 0..<\(source.rows)") }
                out.setRow(i, row)
                // An all-zero row (embed-images --skip-bad's mark of an unreadable image) has
                // no direction to normalise or score: a per-sample error, like a bad image.
                if out.storage[i * d ..< (i + 1) * d].allSatisfy({ $0 == 0 }) {
                    errors[i] = "\(path): row \(grant.items[i]) is all zeros (an image that could not be embedded)"
                }
            } else if plan.sets[set].isImages {
                if let feature = grant.stored?.feature(i), feature.count == d, feature.allSatisfy(\.isFinite) {
                    // Stored normalised by the worker that embedded it: used as it is.
                    out.setRow(i, feature)
                } else if let error = grant.stored?.errors[i] {
                    errors[i] = error
                } else if let refs = grant.refs, i < refs.count, let ref = refs[i], let sent = lastEmbedded[ref] {
                    // Embedded here for the unit whose completion is still on its way: the
                    // lease could not carry it yet.
                    if let feature = sent.vector { out.setRow(i, feature) } else { errors[i] = sent.error }
                } else {
                    toEmbed.append(i)
                }
            } else {
                throw WorkerError.plan("set \(plan.sets[set].name) has neither features nor images")
            }
        }
        var upload: StoredFeatures?
        if !toEmbed.isEmpty {
            guard let model = plan.model else { throw WorkerError.plan("image samples but no model in the plan") }
            guard let refs = grant.refs, refs.count == grant.count else { throw WorkerError.plan("unit \(grant.unit): no image references in the lease") }
            let embedder = try await embedder(model, plan: plan)
            var wanted = [Int](), wantedRefs = [String]()
            for i in toEmbed {
                if let ref = refs[i] {
                    wanted.append(i)
                    wantedRefs.append(ref)
                } else {
                    errors[i] = "sample \(grant.firstSample + i): no image reference"
                }
            }
            try checkLocalImages(wantedRefs, roots: wanted.map { plan.sets[grant.sets[$0]].root })
            let outcomes = try await embedder.embedUnit(wantedRefs)
            var uploaded = [[Float]?](repeating: nil, count: grant.count)
            var uploadedErrors = [String?](repeating: nil, count: grant.count)
            for (i, outcome) in zip(wanted, outcomes) {
                switch outcome {
                case let .feature(f) where f.count == d && !f.allSatisfy(\.isFinite):
                    // A model that overflowed on this image: no feature to score or store.
                    let message = "image \(refs[i] ?? "?"): its embedding is not finite (NaN or ±∞)"
                    errors[i] = message
                    uploadedErrors[i] = message
                case var .feature(f) where f.count == d:
                    // Normalised once, here; stored (and merged into banks) as scored.
                    UnitNorm.normalize(&f)
                    out.setRow(i, f)
                    uploaded[i] = f
                case .feature:
                    errors[i] = "the embedder returned a feature of the wrong size"
                case let .failure(message):
                    errors[i] = message
                    uploadedErrors[i] = message
                }
            }
            report.embedded += wanted.count
            upload = StoredFeatures(dimension: d, features: uploaded, errors: uploadedErrors)
        }
        return UnitInputs(features: out, errors: errors, upload: upload)
    }

    /// The unit's feature-file rows: from this machine's copies of the files when `--rows`
    /// allows and they hold the recorded content (`LocalUnitRows`), else from the coordinator
    /// (`GET /v1/units/{unit}/rows`; leases carry none); nil when the unit has no sample of a
    /// feature set. A reply that does not fit the unit fails it, saying so.
    func featureRows(_ grant: LeaseGrant, plan: WorkPlan) async throws -> UnitRows? {
        let wanted = grant.sets.contains { $0 >= 0 && $0 < plan.sets.count && plan.sets[$0].features != nil }
        guard wanted else { return nil }
        if let local = try await localRows.rows(sets: grant.sets, items: grant.items, plan: plan) { return local }
        let rows = try await api.rows(unit: grant.unit, worker: options.id, attempt: grant.attempt)
        guard rows.count == grant.count, rows.dimension == plan.dimension else {
            throw WorkerError.input("unit \(grant.unit): the coordinator sent rows for \(rows.count) samples of \(rows.dimension) values; the unit has \(grant.count) samples of \(plan.dimension)")
        }
        return rows
    }

    /// The feature files whose rows the coordinator left out (it could not read them) are read
    /// from this machine's copy: each is checked first against the digest recorded at
    /// submission (hashed once per process, off the actor), so a different file under the same
    /// path fails the unit, naming it, instead of being scored.
    func checkOwnCopies(_ grant: LeaseGrant, plan: WorkPlan, rows: UnitRows?) async throws {
        var sets = Set<Int>()
        for i in 0..<min(grant.count, grant.sets.count) where rows?.row(i) == nil {
            let set = grant.sets[i]
            if set >= 0, set < plan.sets.count, plan.sets[set].features != nil { sets.insert(set) }
        }
        for file in plan.recordedFeatureFiles(sets: sets) {
            do {
                try await InputDigests.shared.verify(file.path, recorded: file.digest)
            } catch {
                throw WorkerError.input("\(error)")
            }
            try featureFiles.refresh(file.path)
        }
    }

    /// Local image files are read where the list names them, so they need the job's data on this
    /// machine (a shared file system). Without the set's root (`data_root`, or the class-folder
    /// root) the data is not here at all, and recording every image as missing would corrupt
    /// the results, so the unit is refused saying so. A missing file or sub-folder under a root
    /// that is here is that sample's error, like any unreadable image. `roots` are the
    /// references' set roots; a plan stored before roots were recorded (nil) falls back to
    /// the image's own folder.
    func checkLocalImages(_ refs: [String], roots: [String?]) throws {
        var checked = Set<String>()
        for (ref, root) in zip(refs, roots) {
            guard let url = URL(string: ref), url.isFileURL else { continue }
            let folder = root ?? url.deletingLastPathComponent().path
            guard checked.insert(folder).inserted else { continue }
            var isFolder: ObjCBool = false
            if !(FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue) {
                throw WorkerError.input("\(root == nil ? "image folder" : "the job's data root") \(folder) is not on this machine: local image files need the job's data at the same path here (a shared file system); serve them over HTTP for workers without it")
            }
        }
    }

    func embedder(_ model: ModelSource, plan: WorkPlan) async throws -> any ImageEmbedding {
        if let e = embedders[model.featureKey] { return e }
        let e: any ImageEmbedding
        let canFetch = try artefacts != nil && modelArtefacts(model, plan: plan) != nil
        do {
            e = try makeEmbedder(try await localModel(model, plan: plan))
        } catch WorkerError.modelMismatch(let path, let found, let expected) where path == model.path && canFetch {
            // Another model under the planned path on this machine: the coordinator's copy.
            logger.warning("model \(path) here has checksum \(found), the job was planned with \(expected): using the coordinator's copy")
            e = try makeEmbedder(try await localModel(model, plan: plan, refetch: true))
        }
        embedders[model.featureKey] = e
        return e
    }

    private func makeEmbedder(_ model: ModelSource) throws -> any ImageEmbedding {
        if let expected = options.expectedPrecision, expected != model.effectivePrecision {
            logger.warning("job planned in \(model.effectivePrecision) (this worker was started with --precision \(expected)): embedding in \(model.effectivePrecision), so the job's features stay in one precision")
        }
        if model.effectivePrecision == .bf16 && !CPUFeatures.current.hasNativeBF16 {
            logger.warning("job planned in bf16 on a CPU without native bf16: products round as bf16 but run through fp32 kernels, more slowly")
        }
        return try options.makeEmbedder?(model) ?? CLIPImageEmbedder(source: model, maxPixels: model.pixelLimit(worker: options.maxPixels))
    }
}
