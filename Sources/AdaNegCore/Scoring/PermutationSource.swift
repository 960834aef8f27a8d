/// How the negative labels are ordered before they are cut into groups: the one
/// representation from a job spec through its stored plan to the scorer.
///
/// A spec's "use the job's seed" is resolved to `.seed` when the spec is read, and a `.file`
/// is read into `.given` just before scoring (`WorkPlan.loadPermutation`), so the label space
/// only ever sees `.none`, `.seed` or `.given`.
///
/// The Codable form is the one stored in plans (`{"seed":{"_0":7}}`, `{"file":{"_0":"p.npy"}}`,
/// `{"none":{}}`); plans written before this type replaced the plan's own enum decode unchanged.
public enum PermutationSource: Codable, Sendable, Equatable {
    /// Identity: no permutation.
    case none
    /// A SplitMix64 Fisher–Yates shuffle with this seed.
    case seed(UInt64)
    /// A `.npy` of indices (int64 or integral floats), length `M − M mod G`, not yet read.
    case file(String)
    /// The indices themselves.
    case given([Int])
}
