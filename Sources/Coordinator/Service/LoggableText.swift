extension String {
    /// Text that came in a request (worker ids, error messages), fit for a log line: control
    /// characters are escaped and the length is capped, so a client can neither forge log lines
    /// nor send escape sequences to the operator's terminal nor flood the log.
    var loggable: String {
        let limit = 500
        var out = ""
        var kept = 0
        for scalar in unicodeScalars {
            if kept == limit {
                out += "…(\(unicodeScalars.count - limit) more)"
                break
            }
            kept += 1
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
