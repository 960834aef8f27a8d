import ArgumentParser
import Coordinator
import Foundation

/// `serve`'s TLS, tokens and connection limits (issue 23), and their reload on SIGHUP.
struct ServerSecurityOptions: ParsableArguments {
    @Option(name: .customLong("tokens"), help: "Tokens file: one 'ROLE NAME sha256:HEX' per line (from `adaneg token new`); reloaded on SIGHUP.")
    var tokensFile: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain (leaf first): serve HTTPS. Reloaded on SIGHUP.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("max-connections"), help: "Connections open at once; more are refused at once (default: half the descriptor limit, at most 4096).")
    var maxConnections: Int?
    @Option(name: .customLong("keep-alive"), help: "Seconds an idle kept-alive connection stays open.") var keepAlive: Double = 60
    @Option(name: .customLong("head-timeout"), help: "Seconds a request's head may take to arrive.") var headTimeout: Double = 10
    @Option(name: .customLong("body-timeout"), help: "Seconds a request body may go without a byte.") var bodyTimeout: Double = 30

    /// The connection limits, checked (exit 2 naming the flag).
    func limits() throws -> ConnectionLimits {
        let limits = ConnectionLimits(headSeconds: headTimeout, bodyIdleSeconds: bodyTimeout, keepAliveSeconds: keepAlive,
                                      maxConnections: maxConnections ?? ConnectionLimits.defaultMaxConnections())
        if let problem = limits.problem() { throw CommandFailure(problem) }
        return limits
    }

    /// The certificate and key, loaded (exit 2 naming the file on any problem).
    func tls() throws -> ReloadableTLS? {
        switch (tlsCert, tlsKey) {
        case (nil, nil): return nil
        case let (cert?, key?):
            do { return try ReloadableTLS(certificatePath: cert, keyPath: key) } catch { throw CommandFailure(error.description) }
        default: throw CommandFailure(TLSSetupError.incomplete.description)
        }
    }

    /// The tokens in force: `--tokens`' entries plus `--token-file`'s secret as one admin token
    /// named "admin"; nil when neither is given.
    func tokens(adminSecret: String?) throws -> AccessTokens? {
        guard tokensFile != nil || adminSecret != nil else { return nil }
        var table = AccessTokens([])
        if let tokensFile {
            do { table = try AccessTokens.read(path: tokensFile) } catch { throw CommandFailure(error.description) }
        }
        if let adminSecret {
            let admin = AccessToken(role: .admin, name: "admin", secret: adminSecret)
            if table.tokens.contains(where: { $0.name == admin.name }) {
                throw CommandFailure("--tokens \(tokensFile ?? ""): a token is named 'admin', the name --token-file's token takes; rename it")
            }
            table.tokens.append(admin)
        }
        if table.tokens.isEmpty { throw CommandFailure("--tokens \(tokensFile ?? ""): the tokens file lists no token") }
        return table
    }

    /// Reloads the tokens file and the certificate on SIGHUP, for as long as the returned
    /// source is kept. A reload that fails leaves what was in force, and says why on stderr.
    func reloadOnHangup(registry: TokenRegistry?, tls: ReloadableTLS?, adminSecret: String?) -> (any DispatchSourceSignal)? {
        guard (registry != nil && tokensFile != nil) || tls != nil else { return nil }
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            var said: [String] = []
            if let registry, tokensFile != nil {
                do {
                    if let table = try tokens(adminSecret: adminSecret) {
                        registry.replace(with: table)
                        said.append("\(table.tokens.count) token\(table.tokens.count == 1 ? "" : "s") reloaded")
                    }
                } catch {
                    said.append("tokens NOT reloaded (the previous ones stay in force): \(error)")
                }
            }
            if let tls {
                do {
                    try tls.reload()
                    said.append("certificate reloaded from \(tls.certificatePath)")
                } catch {
                    said.append("certificate NOT reloaded (the previous one stays in force): \(error)")
                }
            }
            StandardError.write("adaneg serve: SIGHUP: \(said.joined(separator: "; "))\n")
        }
        source.resume()
        return source
    }
}
