import COneDNN

/// The one thread pool of the CPU hot path: libgomp's OpenMP team, the pool oneDNN's products
/// already run on.
///
/// Why one pool: oneDNN (Debian's build) parallelises with OpenMP, and after each product its
/// threads spin for a while waiting for the next one. When the kernels between products (layer
/// norms, softmax, attention blocks) ran on Dispatch's threads, those threads and the spinning
/// OpenMP threads took turns on the same cores (issue 25 measured 5.5% of the time in libgomp
/// spinning and 6% in `sched_yield`). Running those kernels as OpenMP parallel regions hands the
/// work to the threads that are already awake. A oneDNN call made inside a region runs on the
/// calling thread alone (nested parallelism is off), which is what the attention blocks want.
public enum OpenMPPool {
    /// Runs `body(member, teamSize)` on an OpenMP team of up to `threads` threads (the caller is
    /// member 0) and returns when every member is done. Inside another region it runs on the
    /// calling thread alone (`teamSize` 1).
    public static func run(threads: Int, _ body: (_ member: Int, _ teamSize: Int) -> Void) {
        if threads <= 1 || omp_in_parallel() != 0 {
            body(0, 1)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var context = OpenMPContext(body: escaping)
            withUnsafeMutablePointer(to: &context) { pointer in
                GOMP_parallel(openMPTrampoline, UnsafeMutableRawPointer(pointer), UInt32(threads), 0)
            }
        }
    }

    /// Splits `0..<count` into one contiguous range per team member, with at least `grain`
    /// items per member (so small inputs stay on the calling thread).
    public static func forEachRange(_ count: Int, threads: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let wanted = min(threads, max(1, count / max(grain, 1)))
        run(threads: wanted) { member, team in
            let chunk = (count + team - 1) / team
            let lo = member * chunk, hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }

}

/// What the team members share: the body (read-only while the region runs).
private struct OpenMPContext {
    var body: (Int, Int) -> Void
}

/// The C entry every team member calls: reads the context and calls the Swift body with the
/// member's number and the team's size.
private let openMPTrampoline: @convention(c) (UnsafeMutableRawPointer?) -> Void = { data in
    guard let context = data?.assumingMemoryBound(to: OpenMPContext.self) else { return }
    context.pointee.body(Int(omp_get_thread_num()), Int(omp_get_num_threads()))
}
