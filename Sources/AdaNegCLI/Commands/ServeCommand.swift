import ArgumentParser
import Coordinator
import Foundation
import Hummingbird
import JobPlan
import JobProtocol
import Logging
import NIOCore
import Worker

/// `adaneg serve`: the coordinator.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the coordinator: an HTTP API over a SQLite database of jobs, units, results and memory banks.",
        discussion: """
        Workers anywhere lease units from it. Without --token-file it only listens on loopback. \
        Stop it with SIGTERM or Ctrl-C; restarted on the same database it continues where it was. \
        It holds the database (a lock on <db>.lock naming its pid, host and command): another \
        serve, run, rescore or demo on it exits 2 at once, naming this process, while \
        `status --db` and `report --db` read it freely. A file that is not an adaneg database \
        (another program's SQLite database, or not SQLite) is refused and left as it is. When \
        the disk under the database is full, the writes that fail are answered with 500 and \
        nothing stored is lost; it carries on once there is space.
        """
    )

    @Option(help: "SQLite database (created if missing; an existing one must be adaneg's).") var db: String
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port (0 picks a free one and prints it).") var port: Int = 7878
    @Option(name: .customLong("token-file"), help: "File holding the bearer token clients must send.") var tokenFile: String?
    @Option(help: "Seconds a lease lasts without a heartbeat.") var leaseSeconds: Double = 60
    @Option(help: "Attempts before a unit is parked as failed.") var maxAttempts: Int = 3
    @OptionGroup var security: ServerSecurityOptions
    @OptionGroup var banks: BankPolicyOptions

    /// TCP ports are 16-bit: NIO would silently truncate 99999 to 34463.
    /// Out-of-range numbers are a user error (exit 2), checked before anything starts.
    func checkRanges() throws {
        if !(0...65535).contains(port) { throw CommandFailure("--port must be in 0...65535 (got \(port))") }
        if !(leaseSeconds.isFinite && leaseSeconds > 0 && leaseSeconds <= 86_400) {
            throw CommandFailure("--lease-seconds must be in (0, 86400] (got \(leaseSeconds))")
        }
        if !(1...1000).contains(maxAttempts) { throw CommandFailure("--max-attempts must be in 1...1000 (got \(maxAttempts))") }
    }

    func run() async throws {
        try checkRanges()
        let token = try TokenFile.read(tokenFile)
        // Every security input is checked before the database is opened (and locked).
        let limits = try security.limits()
        let tls = try security.tls()
        let registry = try security.tokens(adminSecret: token).map(TokenRegistry.init)
        let bankPolicy = try banks.policy()
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(databasePath: db, configuration: .init(leaseSeconds: leaseSeconds, maxAttempts: maxAttempts,
                                                                                 parkExpiredLeases: true, banks: bankPolicy),
                                          models: CLIPModelFacts())
            _ = try await coordinator.renewLeasesAfterRestart()
        } catch {
            throw CommandFailure(error.description)
        }
        let options = ServerOptions(host: host, port: port, tokens: registry, tls: tls, limits: limits)
        guard options.tokens != nil || options.isLoopback else {
            throw CommandFailure(ServerSetupError.tokenRequired(host: host).description)
        }
        if tls == nil && !options.isLoopback {
            StandardError.warn("serving plain HTTP on \(host): bearer tokens and results travel in clear; give --tls-cert and --tls-key to serve HTTPS")
        }
        let hangup = security.reloadOnHangup(registry: registry, tls: tls, adminSecret: token)
        defer { hangup?.cancel() }
        let database = db
        let app = try buildCoordinatorApplication(
            coordinator: coordinator, options: options,
            onRunning: { port in
                // Unbuffered: scripts and tests read the port from this line.
                FileHandle.standardOutput.write(Data("adaneg coordinator listening on \(options.scheme)://\(options.host):\(port) (database \(database))\n".utf8))
            }
        )
        do {
            try await app.runService()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CommandFailure("cannot listen on \(host):\(port): the address is already in use (another coordinator? pick another --port, or 0 for a free one)")
        } catch let error as IOError {
            throw CommandFailure("cannot listen on \(host):\(port): \(String(cString: strerror(error.errnoCode))) (errno \(error.errnoCode))")
        }
    }
}
