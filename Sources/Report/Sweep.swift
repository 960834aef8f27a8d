import AdaNeg
import Foundation
import JobPlan
import JobProtocol
import JobStore
import Tensor

/// One point of a sweep and its metrics: `sets` and `average` have the shape of the per-set and
/// average objects of `report --format json` (fractions in [0, 1]).
public struct SweepPoint: Codable, Sendable {
    public var params: ScoringParameters
    public var sets: [JobReport.SetReport]
    public var average: JobReport.Summary

    public init(params: ScoringParameters, sets: [JobReport.SetReport], average: JobReport.Summary) {
        self.params = params
        self.sets = sets
        self.average = average
    }

    /// The stored form (`sweep_points.result`).
    public func json() throws -> String { try Self.storedJSON(self) }

    public static func decode(_ text: String) throws -> SweepPoint { try decodeStored(SweepPoint.self, text) }

    /// The stored form of one task's set of a point not finished yet (`sweep_sets.result`).
    public static func json(set: JobReport.SetReport) throws -> String { try storedJSON(set) }

    public static func decodeSet(_ text: String) throws -> JobReport.SetReport { try decodeStored(JobReport.SetReport.self, text) }

    static func storedJSON<T: Encodable>(_ value: T) throws -> String { try SweepStoredJSON.encode(value) }

    static func decodeStored<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try SweepStoredJSON.decode(type, text) }

    /// A point from its sets, one per task in the job's task order, and their average over
    /// `proxy`'s methods: how `sweep --db` and `sweep --coordinator` both make a point.
    public static func assemble(_ params: ScoringParameters, sets: [JobReport.SetReport], proxy: String) -> SweepPoint {
        let methods = JobReport.methods(proxy: proxy)
        return SweepPoint(params: params, sets: sets, average: JobReport.summary("Average", sets, methods: methods))
    }
}

/// A job's stored features, read once for every point of a sweep: each task's stream (rows at
/// their stream positions, as `report --compare-sequential` reads them), the label text
/// features and the negative permutation of the plan.
public struct SweepInputs: Sendable {
    public var jobName: String
    public var jobID: Int64
    public var plan: WorkPlan
    public var tasks: [TaskRecord]
    public var streams: [StreamFeatures]
    public var text: Matrix
    public var permutation: PermutationSource

    /// Why a job cannot be swept, in words for the user.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads the job's inputs. Refuses a job whose image features were dropped
    /// (`keep_features: false`) and one whose input files changed since it was submitted.
    public static func load(store: StoreReader, job name: String) throws(Refusal) -> SweepInputs {
        do {
            guard let job = try store.job(named: name) else {
                throw Refusal(ReportError.unknownJob(name: name, known: try store.jobs().map(\.name)).description)
            }
            let plan = try store.plan(job: job.id)
            if let refusal = plan.sweepRefusal { throw Refusal(refusal) }
            do {
                try plan.verifyScorerInputs()
            } catch {
                throw Refusal("cannot sweep '\(name)': \(error)")
            }
            let text: Matrix, permutation: PermutationSource
            do {
                text = try plan.loadTextFeatures()
                permutation = try plan.loadPermutation()
            } catch {
                throw Refusal("cannot sweep '\(name)': cannot read the job's text features or permutation: \(error)")
            }
            let tasks = try store.tasks(job: job.id)
            var streams = [StreamFeatures]()
            for t in tasks {
                do {
                    streams.append(try store.streamFeatures(task: t.id))
                } catch {
                    throw Refusal("cannot sweep '\(name)': task \(t.id) (\(t.oodName)): \(error.description)")
                }
            }
            let stored = streams.reduce(0) { $0 + $1.positions.count }
            if stored == 0 {
                throw Refusal("job '\(name)' has no stored features to sweep over (no sample of it was embedded or read yet)")
            }
            return SweepInputs(jobName: job.name, jobID: job.id, plan: plan, tasks: tasks, streams: streams, text: text, permutation: permutation)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal("\(error)")
        }
    }

    /// Samples scored per point (every task's rows with a feature).
    public var samplesPerPoint: Int { streams.reduce(0) { $0 + $1.positions.count } }

    /// Scores `points` over every task and computes their metrics. `progress(done, total)`
    /// counts point-batches over all tasks.
    public func score(_ points: [ScoringParameters], threads: Int,
                      progress: (Int, Int) -> Void = { _, _ in }) throws(Refusal) -> [SweepPoint] {
        var perPoint = Array(repeating: [JobReport.SetReport](), count: points.count)
        let total = tasks.indices.reduce(0) { $0 + batchCount(task: $1, points: points) }
        var before = 0
        for t in tasks.indices {
            let sets = try scoreTask(t, points: points, threads: threads) { done, _ in progress(before + done, total) }
            before += batchCount(task: t, points: points)
            for (i, set) in sets.enumerated() { perPoint[i].append(set) }
        }
        return zip(points, perPoint).map { point($0, sets: $1) }
    }

    /// Scores `points` over task `index` (of `tasks`): one set report per point, in order.
    /// The points share each batch's static half (`SweepScorer`), so scoring all the points of
    /// a grid task by task pays for it once per task.
    public func scoreTask(_ index: Int, points: [ScoringParameters], threads: Int,
                          progress: (Int, Int) -> Void = { _, _ in }) throws(Refusal) -> [JobReport.SetReport] {
        let task = tasks[index], stream = streams[index]
        let scores: [[SampleScore]]
        do {
            scores = try SweepScorer.score(features: stream.features, positions: stream.positions, text: text, numID: plan.numID,
                                           permutation: permutation, points: points, threads: threads, progress: progress)
        } catch {
            throw Refusal("scoring task \(task.id) (\(task.oodName)): \(error.description)")
        }
        return scores.map { SetReport.sweepSet(task: task, labels: stream.labels, errored: stream.missing.count, scores: $0) }
    }

    /// Point-batches that scoring `points` over task `index` takes (the unit of progress).
    public func batchCount(task index: Int, points: [ScoringParameters]) -> Int {
        points.reduce(0) { $0 + SweepScorer.batches(positions: streams[index].positions, batchSize: $1.batchSize).count }
    }

    /// A point from its sets, one per task in `tasks`' order, and their average.
    public func point(_ params: ScoringParameters, sets: [JobReport.SetReport]) -> SweepPoint {
        SweepPoint.assemble(params, sets: sets, proxy: plan.scoring.proxy.rawValue)
    }

    /// The points in chunks scored together (sharing each batch's static half): in order,
    /// each chunk's scorers' banks within `budget` bytes at the largest task's length, and
    /// at least `minimum` scorers (points up to λ and in_score) to a chunk.
    public func chunks(_ points: [ScoringParameters], budget: Int, minimum: Int) -> [[ScoringParameters]] {
        let longest = streams.map(\.positions.count).max() ?? 0
        let labels = plan.labelCount, dimension = text.cols
        func bytes(_ p: ScoringParameters) -> Int {
            let l = p.memoryLength
            // A sample enters at most one row, so the pool never outgrows the stream.
            let entries = min(MemoryEstimate.product(labels, l - 1) ?? .max, longest)
            let proxies = p.proxy == .sample ? MemoryEstimate.product(labels, l, l, 4) ?? .max : MemoryEstimate.product(labels, dimension, 4) ?? .max
            let bank = MemoryEstimate.product(entries, dimension * 4 + 24) ?? .max
            return bank > .max - proxies ? .max : bank + proxies
        }
        var out = [[ScoringParameters]]()
        var current = [ScoringParameters](), scorers = Set<String>(), used = 0
        for p in points {
            var key = p
            (key.lambda, key.inScore) = (0, .combine)
            let isNew = !scorers.contains(key.pointKey)
            let cost = isNew ? bytes(p) : 0
            if isNew && scorers.count >= minimum && used > budget - cost {
                out.append(current)
                (current, scorers, used) = ([], [], 0)
            }
            if isNew {
                scorers.insert(key.pointKey)
                used += min(cost, budget)
            }
            current.append(p)
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
