import JobSpec

/// The one check of a `--max-pixels` value (worker, run, embed-images): the range of a job's
/// `max_pixels`, so a flag accepts what a spec accepts.
enum PixelLimit {
    static func check(_ value: Int?, flag: String) throws {
        guard let value, !JobSpec.Limits.maxPixels.contains(value) else { return }
        throw CommandFailure("\(flag) must be in \(JobSpec.Limits.maxPixels.lowerBound)...\(JobSpec.Limits.maxPixels.upperBound) (got \(value))")
    }
}
