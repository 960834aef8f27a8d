import ArgumentParser
import Foundation
import JobClient

/// `--coordinator`, `--token-file` and `--ca-file`: how the commands that talk to a coordinator reach it.
/// `worker` and `submit` need a coordinator; `report` and `status` take it or `--db`.
struct CoordinatorOptions: ParsableArguments {
    @Option(help: "Coordinator URL, e.g. http://10.0.0.5:7878") var coordinator: String?
    @Option(name: .customLong("token-file"), help: "File holding the coordinator's bearer token.") var tokenFile: String?
    @Option(name: .customLong("ca-file"), help: "PEM file of a private CA to trust, on top of the system store, for an https:// coordinator.")
    var caFile: String?

    /// The coordinator's URL, refused unless it is http(s) with no path, query or fragment;
    /// nil when none was given. The API lives at the root (`/v1/…`): a path such as
    /// `http://host:7878/some/path` would turn every request into a bare 404, so it is refused
    /// here with what to give instead.
    func url() throws -> URL? {
        guard let coordinator else { return nil }
        guard let url = URL(string: coordinator), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw CommandFailure("--coordinator '\(coordinator)' is not an http(s) URL")
        }
        let base = "\(url.scheme ?? "http")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "")"
        if !(url.path.isEmpty || url.path == "/") {
            throw CommandFailure("--coordinator '\(coordinator)' has a path (\(url.path)): the coordinator's API is at the root of its address; give only the scheme, host and port, e.g. \(base)")
        }
        if url.query != nil || url.fragment != nil {
            throw CommandFailure("--coordinator '\(coordinator)' has a query or fragment: give only the scheme, host and port, e.g. \(base)")
        }
        return url
    }

    /// The coordinator's URL, for the commands that cannot work without one.
    func requiredURL() throws -> URL {
        guard let url = try url() else { throw CommandFailure("--coordinator is required") }
        return url
    }

    /// The bearer token from `--token-file`, if given.
    func token() throws -> String? { try TokenFile.read(tokenFile) }

    /// `--ca-file`, checked (a readable PEM certificate file, for an https:// URL), if given.
    func checkedCAFile() throws -> String? {
        guard let caFile else { return nil }
        if let url = try url(), url.scheme != "https" {
            throw CommandFailure("--ca-file \(caFile) is for an https:// coordinator; --coordinator '\(coordinator ?? "")' is plain http")
        }
        do { try TLSTrust.check(caFile: caFile) } catch { throw CommandFailure(error.description) }
        return caFile
    }
}
