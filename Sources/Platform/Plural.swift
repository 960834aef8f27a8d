/// The one way a count is written next to its noun in adaneg's messages ("1 unit", "3 units"),
/// so no message says "1 tasks".
public enum Plural {
    /// `n` and the noun, singular for exactly one (and minus one), else the plural (the
    /// singular plus "s" unless `plural` is given, for "entries", "classes", …).
    public static func count<N: BinaryInteger>(_ n: N, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(noun(n, singular, plural))"
    }

    /// The noun alone, in the number `n` asks for ("unit" or "units").
    public static func noun<N: BinaryInteger>(_ n: N, _ singular: String, _ plural: String? = nil) -> String {
        n == 1 || n == -1 ? singular : (plural ?? singular + "s")
    }
}
