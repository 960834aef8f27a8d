import AdaNeg
@testable import Coordinator
import Foundation
import JobClient
import JobPlan
import JobProtocol
import JobStore
import NPY
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Leases carry no feature-file rows; the lease holder fetches them from
/// `GET /v1/units/{unit}/rows` as raw float32 (`UnitRowsWire`), and only it may.
@Suite("Leased unit rows")
struct LeaseRowsTests {
    static let shape = SyntheticBenchmark.Shape(classes: 6, negatives: 30, dimension: 12, idSamples: 80, oodSamples: 48)

    func get(_ cluster: TestCluster, _ path: String) async throws -> (status: Int, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(cluster.port)\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/"))
    }

    func states(_ cluster: TestCluster, job: Int64) async throws -> [UnitState] {
        var out = [UnitState]()
        for task in try await cluster.coordinator.tasks(job: job) { out += try await cluster.coordinator.units(task: task.id).map(\.state) }
        return out
    }

    @Test("the rows are the file's rows, in the unit's order; normalised by the worker's step they are what a reader of the file gets, bit for bit")
    func rowsEqualTheFile() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 8)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            let plan = try await cluster.coordinator.plan(job: submitted.job)
            let client = cluster.client()
            let files = FeatureFileRows()
            var leased = 0
            while let grant = try await client.lease(worker: "w", host: "h").grant {
                #expect(grant.stored == nil)
                let rows = try await client.rows(unit: grant.unit, worker: "w", attempt: grant.attempt)
                #expect(rows.count == grant.count && rows.dimension == Self.shape.dimension)
                for i in 0..<grant.count {
                    let path = try #require(plan.sets[grant.sets[i]].features)
                    let received = try #require(rows.row(i), "sample \(i) has no row")
                    #expect(Array(received) == (try NPYRowReader(path: path).row(grant.items[i])), "sample \(i): not the file's row")
                    let normalized = try FeatureFileRows.normalized(Array(received), path: path, item: grant.items[i])
                    #expect(normalized == (try files.normalizedRow(path, item: grant.items[i])), "sample \(i)")
                }
                _ = try await client.release(unit: grant.unit, worker: "w")
                leased += 1
                if leased == 3 { break }
            }
            #expect(leased == 3)
        }
    }

    @Test("a float16 feature file's rows come converted to float32, as every reader converts them")
    func float16Converted() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, kinds: [.covered], batchSize: 8)
            let idPath = "\(cluster.directory.path)/id.npy"
            let m = job.data.idFeatures
            let halves = Data(m.storage.flatMap { v -> [UInt8] in let b = Float16(v).bitPattern.littleEndian; return [UInt8(b & 0xFF), UInt8(b >> 8)] })
            try NPYFile.write(NPYArray(shape: [m.rows, m.cols], dtype: .float16, data: halves), to: idPath)
            _ = try await cluster.coordinator.submit(try job.spec())
            let client = cluster.client()
            let grant = try #require(try await client.lease(worker: "w", host: "h").grant)
            let rows = try await client.rows(unit: grant.unit, worker: "w", attempt: grant.attempt)
            let reader = try NPYRowReader(path: idPath)
            var checked = 0
            for i in 0..<grant.count where grant.sets[i] == 0 {
                #expect(Array(try #require(rows.row(i))) == reader.row(grant.items[i]), "sample \(i)")
                #expect(rows.row(i).map { Array($0) } == m.row(grant.items[i]).map { Float(Float16($0)) }, "sample \(i)")
                checked += 1
            }
            #expect(checked > 0)
        }
    }

    @Test("only the lease holder under its attempt reads: 404 unknown unit, 409 not leased / other worker / other attempt / done / cancelled, 400 naming a bad worker or attempt; a refusal changes nothing")
    func refusals() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 8, unitBatches: 1)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            let client = cluster.client()
            let grant = try #require(try await client.lease(worker: "w", host: "h").grant)
            let before = try await states(cluster, job: submitted.job)
            let unit = grant.unit
            let base = "/v1/units/\(unit)/rows"

            var r = try await get(cluster, "/v1/units/999999/rows?worker=w&attempt=\(grant.attempt)")
            #expect(r.status == 404 && r.body.contains("no unit 999999"), "\(r)")
            r = try await get(cluster, "\(base)?worker=other&attempt=\(grant.attempt)")
            #expect(r.status == 409 && r.body.contains("worker 'other' does not hold the lease on unit \(unit)"), "\(r)")
            r = try await get(cluster, "\(base)?worker=w&attempt=\(grant.attempt + 1)")
            #expect(r.status == 409 && r.body.contains("unit \(unit)"), "\(r)")
            r = try await get(cluster, "\(base)?attempt=\(grant.attempt)")
            #expect(r.status == 400 && r.body.contains("'worker'"), "\(r)")
            r = try await get(cluster, "\(base)?worker=w")
            #expect(r.status == 400 && r.body.contains("'attempt'"), "\(r)")
            for bad in ["x", "-1", "1.5", "99999999999999999999"] {
                r = try await get(cluster, "\(base)?worker=w&attempt=\(bad)")
                #expect(r.status == 400 && r.body.contains("'attempt'"), "\(bad): \(r)")
            }
            r = try await get(cluster, "\(base)?worker=a%0Ab&attempt=\(grant.attempt)")
            #expect(r.status == 400 && r.body.contains("worker has the character U+000A"), "\(r)")
            r = try await get(cluster, "/v1/units/x/rows?worker=w&attempt=1")
            #expect(r.status == 400, "\(r)")
            // A pending unit (never leased by anyone).
            let pending = try #require(try await cluster.coordinator.units(task: grant.task).first { $0.state == .pending })
            r = try await get(cluster, "/v1/units/\(pending.id)/rows?worker=w&attempt=0")
            #expect(r.status == 409 && r.body.contains("unit \(pending.id)"), "\(r)")
            #expect(try await states(cluster, job: submitted.job) == before, "a refused read changed a unit")

            // The holder reads; a worker id with '+' (allowed) round-trips through the query.
            _ = try await client.release(unit: unit, worker: "w")
            let plus = try #require(try await client.lease(worker: "w+1", host: "h").grant)
            #expect(try await client.rows(unit: plus.unit, worker: "w+1", attempt: plus.attempt).count == plus.count)

            // Done: refused.
            try await cluster.coordinator.completeWithZeros(plus, worker: "w+1")
            await #expect {
                _ = try await client.rows(unit: plus.unit, worker: "w+1", attempt: plus.attempt)
            } throws: { ($0 as? ClientError)?.status == 409 }

            // Cancelled job: its leased unit is no longer leased.
            let next = try #require(try await client.lease(worker: "w", host: "h").grant)
            _ = try await cluster.coordinator.cancel(job: "test-job")
            await #expect {
                _ = try await client.rows(unit: next.unit, worker: "w", attempt: next.attempt)
            } throws: { ($0 as? ClientError)?.status == 409 }
        }
    }

    /// A features job submitted to `cluster`, and its first unit leased by worker "w".
    func firstGrant(_ cluster: TestCluster) async throws -> LeaseGrant {
        let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 8)
        _ = try await cluster.coordinator.submit(try job.spec())
        return try #require(try await cluster.client().lease(worker: "w", host: "h").grant)
    }

    @Test("a feature file changed after the lease: the rows are refused with 409 naming it, and the unit is failed")
    func changedInputRefused() async throws {
        try await TestCluster.with() { cluster in
            let grant = try await firstGrant(cluster)
            let path = "\(cluster.directory.path)/id.npy"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count - 1] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: path))
            let r = try await get(cluster, "/v1/units/\(grant.unit)/rows?worker=w&attempt=\(grant.attempt)")
            #expect(r.status == 409 && r.body.contains("\(path) changed since submission"), "\(r)")
            let unit = try #require(try await cluster.coordinator.units(task: grant.task).first { $0.id == grant.unit })
            #expect(unit.state == .failed && unit.lastError?.contains("\(path) changed since submission") == true, "\(unit)")
        }
    }

    @Test("a feature file truncated after the rows were planned but before they were read: no body with a hole, inputChanged naming file and row, and the unit is failed")
    func truncatedWhileWriting() async throws {
        try await TestCluster.with() { cluster in
            let grant = try await firstGrant(cluster)
            try #require(grant.sets.contains(0), "the first unit holds ID samples, read from id.npy")
            let body = try await cluster.coordinator.unitRows(unit: grant.unit, worker: "w", attempt: grant.attempt)
            let path = "\(cluster.directory.path)/id.npy"
            #expect(truncate(path, 128) == 0)
            var thrown: StoreError?
            do throws(StoreError) { _ = try body.encoded() } catch { thrown = error }
            guard case let .inputChanged(message)? = thrown else {
                Issue.record("expected inputChanged, got \(String(describing: thrown))")
                return
            }
            #expect(message.contains(path) && message.contains("row"), "\(message)")
            do { try await cluster.coordinator.rowsUnreadable(unit: grant.unit, worker: "w", .inputChanged(message)) } catch {
                #expect("\(error)".contains(path), "\(error)")
            }
            let unit = try #require(try await cluster.coordinator.units(task: grant.task).first { $0.id == grant.unit })
            #expect(unit.state == .failed && unit.lastError?.contains(path) == true, "\(unit)")
        }
    }

    @Test("the wire format: round trip, and every malformed body refused naming its field")
    func wire() throws {
        let rows = UnitRows(dimension: 3, rowIndex: [0, nil, 1, nil, nil], values: [1, 2, 3, -4, .infinity, .nan])
        let data = UnitRowsWire.encode(rows)
        #expect(data.count == 24 + 2 * 3 * 4)
        let back = try UnitRowsWire.decode(data)
        #expect(back.rowIndex == rows.rowIndex && back.dimension == 3)
        #expect(back.values[0..<5] == rows.values[0..<5] && back.values[5].isNaN)
        #expect(try UnitRowsWire.decode(UnitRowsWire.encode(UnitRows(dimension: 4, rowIndex: [], values: []))).count == 0)

        func refused(_ body: Data, _ field: String) {
            #expect {
                _ = try UnitRowsWire.decode(body)
            } throws: { "\($0)".contains(field) }
        }
        func patched(_ offset: Int, _ value: UInt32) -> Data {
            var d = data
            withUnsafeBytes(of: value.littleEndian) { d.replaceSubrange(offset..<offset + 4, with: $0) }
            return d
        }
        refused(data.prefix(10), "shorter than")
        refused(patched(0, 0x1234_5678), "ADRW")
        refused(patched(4, 2), "'format'")
        refused(patched(8, UInt32(UnitRowsWire.maxCount + 1)), "'count'")
        refused(patched(8, 9), "padding byte at offset 26")
        refused(patched(8, 8) + Data(repeating: 0, count: 8), "should be 48 bytes")
        refused(patched(12, 0), "'dimension'")
        refused(patched(12, 70_000), "'dimension'")
        var presence = data
        presence[17] = 2
        refused(presence, "'present' of sample 1")
        var padding = data
        padding[22] = 0x3F
        refused(padding, "padding byte at offset 22")
        refused(data + Data([0, 0, 0, 0]), "should be \(data.count) bytes")
        refused(data.dropLast(4), "should be \(data.count) bytes")
    }
}

extension Coordinator {
    /// Completes a leased unit with placeholder results (tests).
    func completeWithZeros(_ grant: LeaseGrant, worker: String) async throws {
        let n = grant.count
        let results = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0.5, count: n),
                                  confVanilla: Array(repeating: 0.5, count: n), mcm: Array(repeating: 0.5, count: n),
                                  adaptive: Array(repeating: 0.5, count: n), errors: Array(repeating: nil, count: n))
        _ = try await complete(unit: grant.unit, CompletionRequest(worker: worker, attempt: grant.attempt, results: results,
                                                                   computeSeconds: 0, waitSeconds: 0))
    }
}
