/// The image references of the units currently leased, by task and stream position: looked
/// up once when a unit is leased and reused for its bank merges and its completion, instead
/// of being joined out of the database again each time. Bounded by the leased units; a unit's
/// references are forgotten when it completes (after a coordinator restart, lookups fall back
/// to the database).
struct LeasedReferences {
    /// Per task, position → reference (nil: a sample without an image, of a feature set).
    private var byTask: [Int64: [Int: String?]] = [:]

    /// Remembers the references of a leased unit's samples, `firstSample` onwards.
    mutating func remember(task: Int64, firstSample: Int, refs: [String?]) {
        // In place: a copy of the task's map per lease would cost O(leased samples).
        for (i, ref) in refs.enumerated() { byTask[task, default: [:]][firstSample + i] = .some(ref) }
    }

    /// The references at `positions`, or nil unless every one is known.
    func refs(task: Int64, positions: [Int]) -> [String?]? {
        guard let known = byTask[task] else { return nil }
        var out = [String?]()
        out.reserveCapacity(positions.count)
        for p in positions {
            guard let ref = known[p] else { return nil }
            out.append(ref)
        }
        return out
    }

    /// Forgets a completed unit's references.
    mutating func forget(task: Int64, firstSample: Int, count: Int) {
        guard byTask[task] != nil else { return }
        for p in firstSample ..< firstSample + count { byTask[task]?.removeValue(forKey: p) }
        if byTask[task]?.isEmpty == true { byTask[task] = nil }
    }
}
