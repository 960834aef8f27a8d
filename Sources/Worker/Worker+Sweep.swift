import AdaNeg
import Foundation
import JobClient
import JobPlan
import JobProtocol
import Platform
import Tensor

/// Sweep units (`sweep --coordinator`): when no job unit is waiting, a worker takes a unit of a
/// fleet sweep — one task of a job and a chunk of points — reads the task's stored features
/// from the coordinator, scores every point over it as `sweep --db` does (`SweepScorer`, the
/// points sharing each batch's static half) and posts one set per point (`SetReport.sweepSet`).
/// Job units come first: a sweep never delays a job.
extension Worker {
    /// Takes and scores one sweep unit; false when the coordinator has none (or no sweeps: an
    /// older coordinator answers 404).
    func takeSweepUnit() async throws -> Bool {
        guard let sweeps = api as? any SweepAPI else { return false }
        let response: SweepLeaseResponse
        do {
            response = try await sweeps.leaseSweep(worker: options.id, host: options.host)
        } catch let error as ClientError where error.status == 404 {
            return false
        }
        guard let grant = response.grant else {
            sweepTaskFeatures = nil
            return false
        }
        let lease = LeaseFlag()
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [options] in
                    let interval = max(grant.leaseSeconds / 3, 0.05)
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                        if Task.isCancelled { return }
                        if (try? await sweeps.heartbeatSweep(unit: grant.unit, worker: options.id, attempt: grant.attempt)) == false { lease.markLost() }
                    }
                }
                defer { group.cancelAll() }
                try await scoreSweep(grant, sweeps, lease: lease)
            }
        } catch {
            switch UnitFailure(error) {
            case .leaseLost:
                logger.warning("sweep unit \(grant.unit): \(error)")
            case .stopped:
                // No release for sweep units: the lease expires and another worker takes it.
                throw CancellationError()
            case .coordinator, .machine:
                throw error
            case .unit:
                logger.error("sweep unit \(grant.unit) failed: \(error)")
                try await sweeps.failSweep(unit: grant.unit, worker: options.id, attempt: grant.attempt, error: "\(error)")
            }
        }
        return true
    }

    private func scoreSweep(_ grant: SweepGrant, _ sweeps: any SweepAPI, lease: LeaseFlag) async throws {
        let plan = try await self.plan(grant.job)
        let text = try textFeatures(plan)
        let permutation = try plan.loadPermutation()
        // A task's stored features are final once its job is done (the coordinator sweeps only
        // finished jobs), so the next unit of the same task reuses them.
        var clock = WorkClock()
        defer {
            report.computeSeconds += clock.compute
            report.waitSeconds += clock.wait
        }
        let stored: SweepFeatures
        if let cached = sweepTaskFeatures, cached.task == grant.task.id {
            stored = cached.features
        } else {
            sweepTaskFeatures = nil
            stored = try await sweeps.sweepFeatures(unit: grant.unit, worker: options.id, attempt: grant.attempt)
        }
        guard stored.dimension == plan.dimension, stored.labels.count == stored.rows, stored.positions.count == stored.rows else {
            throw WorkerError.plan("sweep unit \(grant.unit): the coordinator sent \(stored.rows) rows of \(stored.dimension) floats for a job of dimension \(plan.dimension)")
        }
        sweepTaskFeatures = (grant.task.id, stored)
        clock.lap(waiting: true)
        let features = Matrix(rows: stored.rows, cols: stored.dimension, storage: stored.features)
        let points = grant.points, numID = plan.numID
        // As many lanes as the worker's BLAS threads (`worker --threads`, else one per core).
        let threads = max(1, BLAS.threads)
        // Off the cooperative pool: a unit is seconds to minutes of scoring, on its own threads.
        let scores = try await BlockingIO.run { () throws(AdaNegScorer.Problem) -> [[SampleScore]] in
            try SweepScorer.score(features: features, positions: stored.positions, text: text, numID: numID,
                                  permutation: permutation, points: points, threads: threads)
        }
        if lease.isLost {
            logger.warning("lease on sweep unit \(grant.unit) lost; abandoning it")
            return
        }
        var sets = [SweepCompletion.PointSet]()
        for (point, score) in zip(points, scores) {
            let set = SetReport.sweepSet(task: grant.task, labels: stored.labels, errored: stored.errored, scores: score)
            sets.append(.init(point: point.pointKey, result: try SweepStoredJSON.encode(set)))
        }
        clock.lap(waiting: false)
        let accepted = try await sweeps.completeSweep(unit: grant.unit, SweepCompletion(worker: options.id, attempt: grant.attempt, sets: sets))
        clock.lap(waiting: true)
        if accepted {
            report.sweepUnits += 1
            report.sweepPointTasks += points.count
        } else {
            logger.notice("sweep unit \(grant.unit) was already completed elsewhere")
        }
    }
}
