import JobStore

/// Each task's stream (per position: set, item and label) as leases hand it out. The samples
/// table never changes once a job is stored, so a task's stream is read with one query the first
/// time one of its units is leased and sliced for every later lease, instead of 2,048 rows read
/// per lease (4% of the coordinator's CPU at 64 workers flat out). At most `limit` samples are
/// kept, as 12 bytes each; the streams used longest ago go first, and a stream larger than the
/// limit is never kept (its units are read per lease, as before).
struct TaskStreams {
    typealias Samples = (sets: [Int], items: [Int], labels: [Int])

    private struct Stream {
        var sets: [Int32]
        var items: [Int32]
        var labels: [Int32]
        var count: Int { sets.count }
    }

    private var streams: [Int64: Stream] = [:]
    /// Tasks in order of last use, oldest first.
    private var recent: [Int64] = []
    private var kept = 0
    let limit: Int

    init(limit: Int = 16 << 20) {
        self.limit = limit
    }

    /// Samples kept now, for tests.
    var keptSamples: Int { kept }

    /// The samples `first ..< first + count` of `task`, whose stream has `streamCount`
    /// positions: from the kept stream, reading it first with `stream` when it fits; else
    /// (too large, or a range outside it) with `unit`.
    mutating func samples(task: Int64, first: Int, count: Int, streamCount: Int,
                          stream: () throws(StoreError) -> Samples, unit: () throws(StoreError) -> Samples) throws(StoreError) -> Samples {
        guard streamCount <= limit, first >= 0, count >= 0, first + count <= streamCount else { return try unit() }
        if streams[task] == nil {
            let read = try stream()
            // A stream that does not have the recorded length, or a value outside int32, is not kept.
            guard read.sets.count == streamCount, read.items.count == streamCount, read.labels.count == streamCount,
                  let kept = Self.narrowed(read) else { return try unit() }
            while self.kept + streamCount > limit, let oldest = recent.first { forget(oldest) }
            streams[task] = kept
            self.kept += streamCount
        }
        recent.removeAll { $0 == task }
        recent.append(task)
        guard let s = streams[task] else { return try unit() }
        let range = first ..< first + count
        return (s.sets[range].map(Int.init), s.items[range].map(Int.init), s.labels[range].map(Int.init))
    }

    private static func narrowed(_ s: Samples) -> Stream? {
        func column(_ values: [Int]) -> [Int32]? {
            var out = [Int32]()
            out.reserveCapacity(values.count)
            for v in values {
                guard let n = Int32(exactly: v) else { return nil }
                out.append(n)
            }
            return out
        }
        guard let sets = column(s.sets), let items = column(s.items), let labels = column(s.labels) else { return nil }
        return Stream(sets: sets, items: items, labels: labels)
    }

    private mutating func forget(_ task: Int64) {
        if let s = streams.removeValue(forKey: task) { kept -= s.count }
        recent.removeAll { $0 == task }
    }
}
