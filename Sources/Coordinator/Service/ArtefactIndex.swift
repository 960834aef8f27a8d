import JobPlan
import JobProtocol

/// Content digest → the file a plan names with it. Filled from every plan the coordinator
/// loads; two jobs naming files of equal content share the entry (either file serves).
struct ArtefactIndex {
    private var files: [String: (path: String, bytes: Int)] = [:]
    /// True once the plans stored before this process started have been indexed.
    var coversAllJobs = false

    mutating func add(_ plan: WorkPlan) {
        for (path, digest) in plan.artefacts ?? [:] where digest.problem == nil && files[digest.sha256] == nil {
            files[digest.sha256] = (path, digest.bytes)
        }
    }

    func file(sha256: String) -> (path: String, bytes: Int)? { files[sha256] }
}
