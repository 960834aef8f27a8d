/// Sizes of the coordinator's small requests, shared by the routes that enforce them and the
/// client that must stay under them.
///
/// Why: a body is decoded into values at many bytes per byte of JSON (a 32 MB lease request of
/// nested arrays once took the coordinator to 610 MB). Requests that carry only a worker id, a
/// host name and an error message are capped far below the general body limit, so no such
/// request costs more than a few megabytes whatever it holds.
public enum RequestSizes {
    /// Lease, heartbeat, fail and release bodies.
    public static let smallBodyBytes = 64 << 10

    /// The longest failure message a worker sends (the client shortens longer ones).
    public static let errorMessageBytes = 16 << 10

    /// `message` cut to at most `errorMessageBytes` bytes of UTF-8 (whole characters), with a
    /// note of how much was cut.
    public static func shortened(_ message: String) -> String {
        guard message.utf8.count > errorMessageBytes else { return message }
        var kept = Substring()
        var bytes = 0
        for character in message {
            let size = character.utf8.count
            if bytes + size > errorMessageBytes - 64 { break }
            kept.append(character)
            bytes += size
        }
        return kept + "…(\(message.utf8.count - bytes) more bytes)"
    }
}
