import Dispatch

/// Splits `0..<count` into contiguous chunks and runs them on all cores.
///
/// The per-sample work after a batch GEMM (log-sum-exps over 11,000 labels, proxy weights) is
/// independent across samples; chunking keeps each thread on its own rows of the output.
func parallelChunks(_ count: Int, minimumChunk: Int = 8, _ body: @Sendable (Range<Int>) -> Void) {
    let threads = max(1, min(ProcessInfoCores.count, (count + minimumChunk - 1) / max(minimumChunk, 1)))
    guard threads > 1 else {
        if count > 0 { body(0..<count) }
        return
    }
    let chunk = (count + threads - 1) / threads
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        let start = t * chunk
        let end = min(count, start + chunk)
        if start < end { body(start..<end) }
    }
}

/// A raw pointer that may cross into `parallelChunks`; each chunk writes disjoint elements.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// A read-only raw pointer for `parallelChunks`.
struct SharedConstPointer<T>: @unchecked Sendable {
    let base: UnsafePointer<T>
    init(_ base: UnsafePointer<T>) { self.base = base }
}

enum ProcessInfoCores {
    static let count: Int = {
        #if canImport(Glibc)
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return max(1, Int(n))
        #else
        return 1
        #endif
    }()
}

#if canImport(Glibc)
import Glibc
#endif
