import AdaNeg
@testable import Coordinator
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobClient
import JobProtocol
import Testing

/// Completions carry their numeric columns as base64 blocks of 32-bit values (not JSON number
/// arrays); a JSON array is still read, and every value is checked as before.
@Suite("Completion columns on the wire")
struct CompletionWireTests {
    static let shape = SyntheticBenchmark.Shape(classes: 6, negatives: 30, dimension: 12, idSamples: 40, oodSamples: 24)

    @Test("columns encode as base64 blocks and decode to the same values, bit for bit; JSON arrays decode too")
    func roundTrip() throws {
        let r = UnitResults(pred: [0, 5, 2], conf: [0.1, 0.987_654_3, 1e-30], confVanilla: [0.5, 0.25, 1], mcm: [0, 1, 0.3],
                            adaptive: [0.7, 0.2, 0.9], errors: [nil, "bad image", nil], predStatic: [1, 2, 3])
        let json = try JSONEncoder().encode(r)
        let text = String(decoding: json, as: UTF8.self)
        #expect(!text.contains("0.9876") && text.contains("\"errors\":[null,\"bad image\",null]"), "\(text)")
        let back = try JSONDecoder().decode(UnitResults.self, from: json)
        #expect(back == r && back.conf.map(\.bitPattern) == r.conf.map(\.bitPattern))
        let arrays = #"{"pred":[0,5,2],"conf":[0.1,0.9876543,1e-30],"confVanilla":[0.5,0.25,1],"mcm":[0,1,0.3],"adaptive":[0.7,0.2,0.9],"errors":[null,"bad image",null],"predStatic":[1,2,3]}"#
        #expect(try JSONDecoder().decode(UnitResults.self, from: Data(arrays.utf8)) == r)
        // The errors column, encoded element by element, is the JSON the generic `[String?]` gives.
        struct Generic: Encodable { var errors: [String?] }
        let errors: [String?] = [nil, "a \"quoted\" é", "", nil, "x/y\n", nil]
        let varied = UnitResults(pred: Array(repeating: 1, count: 6), conf: Array(repeating: 0.5, count: 6), confVanilla: Array(repeating: 0.5, count: 6),
                                 mcm: Array(repeating: 0.5, count: 6), adaptive: Array(repeating: 0.5, count: 6), errors: errors)
        let generic = String(decoding: try JSONEncoder().encode(Generic(errors: errors)), as: UTF8.self)
        #expect(String(decoding: try JSONEncoder().encode(varied), as: UTF8.self).contains(generic.dropFirst().dropLast()), "\(generic)")
        #expect(try JSONDecoder().decode(UnitResults.self, from: JSONEncoder().encode(varied)).errors == errors)
        var noStatic = r
        noStatic.predStatic = nil
        #expect(try JSONDecoder().decode(UnitResults.self, from: JSONEncoder().encode(noStatic)).predStatic == nil)
    }

    @Test("per-sample errors decode element by element: strings and nulls in order; anything else, or no array, is refused")
    func errorColumn() throws {
        func decoded(_ errors: String) throws -> [String?] {
            let json = #"{"pred":"AAAAAAAAAAAAAAAA","conf":"AAAAAAAAAAAAAAAA","confVanilla":"AAAAAAAAAAAAAAAA","mcm":"AAAAAAAAAAAAAAAA","adaptive":"AAAAAAAAAAAAAAAA""#
                + errors + "}"
            return try JSONDecoder().decode(UnitResults.self, from: Data(json.utf8)).errors
        }
        #expect(try decoded(#","errors":[null,"a \"quoted\" \u00e9",null,"",null,null,null,null,null,null,null,null]"#)
            == [nil, "a \"quoted\" é", nil, "", nil, nil, nil, nil, nil, nil, nil, nil])
        #expect(try decoded(#","errors":[]"#) == [])
        for bad in [#","errors":[null,1]"#, #","errors":"none""#, #","errors":[[null]]"#, #","errors":{"0":null}"#, ""] {
            #expect(throws: DecodingError.self, "\(bad)") { try decoded(bad) }
        }
    }

    @Test("a lease's sets, items and labels travel as int32 blocks and decode to the same grant; JSON arrays decode too; a bad block names grant.<column>")
    func leaseColumns() throws {
        let grant = LeaseGrant(unit: 7, task: 2, job: 1, firstSample: 64, sets: [0, 1, 0], items: [5, 99_999, 0], labels: [3, -1, 0],
                               leaseSeconds: 30, attempt: 2, refs: ["a.jpg", nil, nil])
        let json = try JSONEncoder().encode(LeaseResponse(grant: grant, finished: false))
        #expect(!String(decoding: json, as: UTF8.self).contains("99999"))
        #expect(try JSONDecoder().decode(LeaseResponse.self, from: json).grant == grant)
        let arrays = #"{"unit":7,"task":2,"job":1,"firstSample":64,"sets":[0,1,0],"items":[5,99999,0],"labels":[3,-1,0],"leaseSeconds":30,"attempt":2,"refs":["a.jpg",null,null]}"#
        #expect(try JSONDecoder().decode(LeaseGrant.self, from: Data(arrays.utf8)) == grant)
        let broken = arrays.replacingOccurrences(of: #""items":[5,99999,0]"#, with: #""items":"AAA""#)
        #expect {
            _ = try JSONDecoder().decode(LeaseGrant.self, from: Data(broken.utf8))
        } throws: { "\($0)".contains("grant.items") }
    }

    @Test("a malformed block is a 400 naming its column; a NaN or out-of-range value in a block is refused as in an array; nothing is stored")
    func refusals() async throws {
        try await TestCluster.with() { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: Self.shape, batchSize: 8, unitBatches: 1)
            _ = try await cluster.coordinator.submit(try job.spec())
            let client = cluster.client()
            let grant = try #require(try await client.lease(worker: "w", host: "h").grant)
            let n = grant.count
            func request(_ change: (inout UnitResults) -> Void) -> CompletionRequest {
                var r = UnitResults(pred: Array(repeating: 0, count: n), conf: Array(repeating: 0.5, count: n), confVanilla: Array(repeating: 0.5, count: n),
                                    mcm: Array(repeating: 0.5, count: n), adaptive: Array(repeating: 0.5, count: n), errors: Array(repeating: nil, count: n),
                                    predStatic: Array(repeating: 0, count: n))
                change(&r)
                return CompletionRequest(worker: "w", attempt: grant.attempt, results: r, computeSeconds: 1, waitSeconds: 0)
            }
            func post(_ body: Data) async throws -> (Int, String) {
                var http = URLRequest(url: URL(string: "http://127.0.0.1:\(cluster.port)/v1/units/\(grant.unit)/complete")!)
                http.httpMethod = "POST"
                http.httpBody = body
                let (data, response) = try await URLSession.shared.data(for: http)
                return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
            }
            let valid = try JSONEncoder().encode(request { _ in })
            var text = String(decoding: valid, as: UTF8.self)
            for key in ["conf", "pred", "mcm"] {
                let broken = text.replacingOccurrences(of: "\"\(key)\":\"", with: "\"\(key)\":\"!!")
                let (status, body) = try await post(Data(broken.utf8))
                #expect(status == 400 && body.contains("results.\(key)"), "\(key): \(status) \(body)")
            }
            for (label, change, word) in [("conf NaN", { (r: inout UnitResults) in r.conf[1] = .nan }, "conf"),
                                          ("mcm ∞", { (r: inout UnitResults) in r.mcm[0] = .infinity }, "mcm"),
                                          ("pred past Int32", { (r: inout UnitResults) in r.pred[0] = Int(Int32.max) + 5 }, "pred")] {
                let (status, body) = try await post(try JSONEncoder().encode(request(change)))
                #expect(status == 400 && body.contains(word), "\(label): \(status) \(body)")
            }
            #expect(try await cluster.coordinator.results(task: grant.task).isEmpty)
            text = String(decoding: valid, as: UTF8.self)
            #expect(try await post(Data(text.utf8)).0 == 200)
            #expect(try await cluster.coordinator.results(task: grant.task).count == n)
        }
    }
}
