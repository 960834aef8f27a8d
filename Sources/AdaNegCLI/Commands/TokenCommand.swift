import ArgumentParser
import Coordinator
import Foundation
import JobProtocol

/// `adaneg token new`: a fresh secret for the coordinator's tokens file.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make tokens for `serve --tokens`.",
        subcommands: [NewToken.self]
    )

    struct NewToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Write a random secret to a new file (mode 0600) and print its line for the server's tokens file.",
            discussion: """
            The printed line, `ROLE NAME sha256:HEX`, goes into the file `adaneg serve --tokens` reads \
            (the server keeps only the digest). Give the secret file to the clients as --token-file. \
            Roles: admin (everything), submit (submit, cancel its own jobs, read), worker (lease, plans, \
            artefacts, bank sync, heartbeat, complete, release), read (status, progress, reports, metrics).
            """
        )

        @Option(help: "admin, submit, worker or read.") var role: String
        @Option(help: "The token's name: recorded on the jobs it submits, shown by status (letters, digits, . _ - : @ +).") var name: String
        @Option(name: .customLong("secret-out"), help: "New file to write the secret to (mode 0600; an existing file is never replaced).") var secretOut: String

        func run() throws {
            guard let role = Role(rawValue: role) else {
                throw CommandFailure("--role '\(role)' is not a role: one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let problem = WorkerIdentity.problem(name, field: "--name") { throw CommandFailure(problem) }
            var generator = SystemRandomNumberGenerator()
            let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            try Self.writeSecret(secret, to: secretOut)
            print(AccessToken(role: role, name: name, secret: secret).line)
        }

        /// Creates `path` with mode 0600 and writes the secret; refuses a path that exists.
        static func writeSecret(_ secret: String, to path: String) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                let reason = errno == EEXIST ? "it exists; a secret file is never replaced (remove it, or pick another path)" : String(cString: strerror(errno))
                throw CommandFailure("--secret-out \(path): \(reason)")
            }
            defer { close(fd) }
            let bytes = Array((secret + "\n").utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.count, fsync(fd) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw CommandFailure("--secret-out \(path): cannot write the secret: \(reason)")
            }
        }
    }
}
