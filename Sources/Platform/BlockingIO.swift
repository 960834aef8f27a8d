import Dispatch

/// Runs blocking file work off Swift's cooperative thread pool. That pool has one thread per
/// core (two on a small machine): a read that blocks there (a slow disk, a network file system)
/// stalls every task of the process, health checks and leases included. Work handed here runs
/// on a queue of its own and the caller's task is resumed when it is done.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "adaneg.blocking-io", qos: .userInitiated, attributes: .concurrent)

    public static func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
