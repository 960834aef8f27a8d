@testable import Coordinator
import Foundation
import JobProtocol
import JobStore
import Testing

/// Leases slice each task's stream, read once (`TaskStreams`): every slice must be what the
/// unit's own read gives, within a bound on what is kept.
@Suite("Task streams for leases")
struct TaskStreamsTests {
    static func stream(_ task: Int64, _ n: Int) -> TaskStreams.Samples {
        ((0..<n).map { ($0 + Int(task)) % 3 }, (0..<n).map { $0 * 7 + Int(task) }, (0..<n).map { $0 % 5 == 0 ? -1 : $0 % 11 })
    }

    static func unit(_ task: Int64, _ n: Int, _ first: Int, _ count: Int) -> TaskStreams.Samples {
        let s = stream(task, n)
        let r = first ..< first + count
        return (Array(s.sets[r]), Array(s.items[r]), Array(s.labels[r]))
    }

    @Test("slices equal the unit's own read; each stream is read once; the oldest goes past the limit; a stream over the limit is read per unit")
    func slices() throws {
        var streams = TaskStreams(limit: 1000)
        var streamReads = [Int64: Int](), unitReads = 0
        func lease(_ task: Int64, _ n: Int, _ first: Int, _ count: Int) throws -> TaskStreams.Samples {
            try streams.samples(task: task, first: first, count: count, streamCount: n,
                                stream: { () throws(StoreError) in streamReads[task, default: 0] += 1; return Self.stream(task, n) },
                                unit: { () throws(StoreError) in unitReads += 1; return Self.unit(task, n, first, count) })
        }
        func same(_ a: TaskStreams.Samples, _ b: TaskStreams.Samples) -> Bool { a.sets == b.sets && a.items == b.items && a.labels == b.labels }
        for first in stride(from: 0, to: 600, by: 64) {
            #expect(same(try lease(1, 600, first, min(64, 600 - first)), Self.unit(1, 600, first, min(64, 600 - first))))
        }
        #expect(streamReads[1] == 1 && unitReads == 0 && streams.keptSamples == 600)
        // A second task that does not fit beside the first: the first goes.
        #expect(same(try lease(2, 500, 100, 50), Self.unit(2, 500, 100, 50)))
        #expect(streams.keptSamples == 500)
        #expect(same(try lease(1, 600, 0, 10), Self.unit(1, 600, 0, 10)))
        #expect(streamReads[1] == 2 && streams.keptSamples == 600)
        // Over the limit, or a range outside the stream: the unit's own read.
        #expect(same(try lease(3, 5000, 4000, 64), Self.unit(3, 5000, 4000, 64)))
        #expect(streamReads[3] == nil && unitReads == 1)
        let outside = try streams.samples(task: 1, first: 590, count: 20, streamCount: 600,
                                          stream: { () throws(StoreError) in Issue.record("read again"); return Self.stream(1, 600) },
                                          unit: { () throws(StoreError) in unitReads += 1; return ([], [], []) })
        #expect(outside.sets.isEmpty && unitReads == 2)
    }

    @Test("a stream read with another length than recorded is not kept, and the unit's own read answers")
    func wrongLength() throws {
        var streams = TaskStreams(limit: 1000)
        var unitReads = 0
        let got = try streams.samples(task: 1, first: 0, count: 4, streamCount: 10,
                                      stream: { () throws(StoreError) in Self.stream(1, 9) },
                                      unit: { () throws(StoreError) in unitReads += 1; return Self.unit(1, 10, 0, 4) })
        #expect(got.items == Self.unit(1, 10, 0, 4).items && unitReads == 1 && streams.keptSamples == 0)
    }
}
