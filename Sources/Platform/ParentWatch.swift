import Foundation

/// Makes a child process end with the process that started it: `run`'s and `demo`'s local
/// workers must not outlive a `kill -9` of their parent, retrying its vanished coordinator
/// for an hour.
///
/// Why a polling thread and not `PR_SET_PDEATHSIG`: the death signal fires when the parent
/// *thread* that spawned the child exits, and the parent spawns from a pool thread that may
/// end while the run goes on, which would kill healthy workers. `getppid()` changes as soon as
/// the parent process is gone (the child is re-parented to init or a subreaper), whichever
/// thread started it; a look every `interval` costs nothing.
public enum ParentWatch {
    /// Starts watching: once the parent is no longer `parent` (also when it is already gone
    /// as this is called), `onOrphaned` runs on the watching thread and the process exits
    /// with status 3.
    public static func exitWhenOrphaned(parent: Int32, interval: Double = 0.25, onOrphaned: @escaping @Sendable () -> Void = {}) {
        let thread = Thread {
            while getppid() == parent {
                Thread.sleep(forTimeInterval: interval)
            }
            onOrphaned()
            _exit(3)
        }
        thread.name = "adaneg-parent-watch"
        thread.start()
    }
}
