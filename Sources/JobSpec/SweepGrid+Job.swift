import AdaNegCore

extension SweepGrid {
    /// What the grid must fit besides each parameter's own range: the job's negatives
    /// (`groups` splits them). `sweep --db` and the coordinator's `POST /v1/sweeps` both check it.
    public func checkAgainstJob(negatives: Int) throws(Problem) {
        for axis in axes where axis.parameter == .groups {
            for case let .integer(g) in axis.values where g > negatives {
                throw Problem("--set 'groups=…': groups \(g) is more than the job's \(negatives) negative labels; groups takes integers 1 to \(negatives) for this job")
            }
        }
    }
}
