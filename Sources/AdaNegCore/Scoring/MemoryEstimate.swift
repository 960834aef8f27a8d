/// What one task's scoring needs in memory at most, computed with checked arithmetic from the
/// sizes of a plan, so an absurd setting (a huge `memleng` or batch) is refused at planning
/// time with a number instead of trapping or exhausting memory in a worker's allocation.
public struct MemoryEstimate: Sendable, Equatable {
    /// The bank when every row is full: (C+M) × (L−1) slots, each a D-float feature plus its
    /// key (16 bytes) and pool index (8 bytes). The task-proxy cache holds one D-float proxy
    /// per row; the sample proxy also keeps a Gram matrix of (L × L) floats per row.
    public var bankBytes: Int
    /// One batch in flight: the static and adaptive logits and their softmaxes (about six
    /// B × (C+M) float matrices) plus, for the sample proxy, B × (C+M) × L similarities.
    public var batchBytes: Int
    /// One unit's input features, unit size × D floats.
    public var unitBytes: Int

    public var totalBytes: Int {
        let (a, o1) = bankBytes.addingReportingOverflow(batchBytes)
        let (b, o2) = a.addingReportingOverflow(unitBytes)
        return o1 || o2 ? Int.max : b
    }

    /// Nil when a size overflows `Int`: such a plan cannot fit anywhere.
    public init?(labelCount: Int, dimension: Int, unitSize: Int, parameters: ScoringParameters) {
        guard labelCount >= 0, dimension >= 0, unitSize >= 0, parameters.memoryLength >= 1, parameters.batchSize >= 1 else { return nil }
        let l = parameters.memoryLength
        guard let featureBytes = Self.product(dimension, 4),
              let slot = Self.product(labelCount, l - 1, featureBytes + 24),
              let proxies = Self.product(labelCount, featureBytes),
              let gram = parameters.proxy == .sample ? Self.product(labelCount, l, l, 4) : 0,
              let logits = Self.product(parameters.batchSize, labelCount, 4, 6),
              let similarities = parameters.proxy == .sample ? Self.product(parameters.batchSize, labelCount, l, 4) : 0,
              let unit = Self.product(unitSize, featureBytes)
        else { return nil }
        let (bank, o1) = slot.addingReportingOverflow(proxies)
        let (bankAll, o2) = bank.addingReportingOverflow(gram)
        let (batch, o3) = logits.addingReportingOverflow(similarities)
        guard !o1, !o2, !o3 else { return nil }
        bankBytes = bankAll
        batchBytes = batch
        unitBytes = unit
    }

    /// The product of non-negative factors, nil on overflow.
    public static func product(_ factors: Int...) -> Int? {
        var total = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            total = p
        }
        return total
    }

    /// "3.2 GB", for messages.
    public static func describe(bytes: Int) -> String {
        let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes), unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(bytes) bytes" : "\((value * 10).rounded() / 10) \(units[unit])"
    }

    /// Why a plan of these sizes cannot run within `availableBytes`, or nil when it can.
    public static func problem(labelCount: Int, dimension: Int, unitSize: Int, parameters: ScoringParameters,
                               availableBytes: Int) -> String? {
        guard let estimate = MemoryEstimate(labelCount: labelCount, dimension: dimension, unitSize: unitSize, parameters: parameters) else {
            return "memory: \(labelCount) labels × memleng \(parameters.memoryLength) × \(dimension) dimensions with batch_size \(parameters.batchSize) is larger than any memory"
        }
        guard estimate.totalBytes <= availableBytes else {
            return "memory: a worker would need up to \(describe(bytes: estimate.totalBytes)) (bank \(describe(bytes: estimate.bankBytes)), batch \(describe(bytes: estimate.batchBytes)), unit \(describe(bytes: estimate.unitBytes))) but this machine has \(describe(bytes: availableBytes)); lower memleng, batch_size or unit_batches"
        }
        return nil
    }
}
