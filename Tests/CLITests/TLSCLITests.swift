import Foundation
import Testing

/// Issue 23 from the command line: `serve` over TLS with role tokens, every client command with
/// `--ca-file`, and the certificate failures each client must name (host and reason, exit 2).
/// Certificates are made with `openssl` at test time; none are committed.
@Suite("TLS and tokens on the command line", .serialized)
struct TLSCLITests {
    /// A private CA, a second unrelated CA, and coordinator certificates signed by the first.
    struct PKI {
        let dir: Scratch

        init() throws {
            dir = try Scratch()
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=adaneg test CA"])
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "30", "-subj", "/CN=another CA"])
            // DNS names only: NIOSSL also accepts an IP entry matching the connected address
            // whatever name was asked for, so the host-name check is made on 127.0.0.1.
            try sign("server", san: "DNS:localhost", ca: "ca")
            try sign("server2", san: "DNS:localhost", ca: "other-ca")
            // Expired: `openssl ca` takes explicit dates.
            try "".write(toFile: dir.path("index.txt"), atomically: true, encoding: .utf8)
            try "01\n".write(toFile: dir.path("serial"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: dir.path("newcerts"), withIntermediateDirectories: true)
            try """
            [ca]
            default_ca = CA_default
            [CA_default]
            dir = .
            database = index.txt
            new_certs_dir = newcerts
            serial = serial
            default_md = sha256
            policy = policy_any
            copy_extensions = copy
            unique_subject = no
            [policy_any]
            commonName = supplied

            """.write(toFile: dir.path("ca.cnf"), atomically: true, encoding: .utf8)
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=coordinator", "-addext", "subjectAltName=IP:127.0.0.1"])
            try openssl(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr", "-out", "expired.pem",
                         "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"])
        }

        func sign(_ name: String, san: String, ca: String) throws {
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=coordinator"])
            try "subjectAltName=\(san)\n".write(toFile: dir.path("\(name).ext"), atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial", "-out", "\(name).pem",
                         "-days", "30", "-extfile", "\(name).ext"])
        }

        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.currentDirectoryURL = dir.url
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw HarnessError.timeout("openssl \(arguments.joined(separator: " ")) failed") }
        }

        func path(_ name: String) -> String { dir.path(name) }
    }

    /// `adaneg token new`; returns the tokens-file line.
    func newToken(_ pki: PKI, role: String, name: String) throws -> String {
        let made = try CLI.run(["token", "new", "--role", role, "--name", name, "--secret-out", pki.path("\(name).secret")])
        #expect(made.status == 0, "\(made.stderr)")
        return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("token new: a 0600 secret file, the tokens-file line, refusals with exit 2")
    func tokenNew() throws {
        let scratch = try Scratch()
        let made = try CLI.run(["token", "new", "--role", "worker", "--name", "cluster-a", "--secret-out", scratch.path("w.secret")])
        #expect(made.status == 0, "\(made.stderr)")
        let fields = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(fields.count == 3 && fields[0] == "worker" && fields[1] == "cluster-a" && fields[2].hasPrefix("sha256:") && fields[2].count == 71)
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path("w.secret"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let secret = try String(contentsOfFile: scratch.path("w.secret"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.count == 64 && !made.stdout.contains(secret), "the secret must not be printed")
        let again = try CLI.run(["token", "new", "--role", "worker", "--name", "b", "--secret-out", scratch.path("w.secret")])
        #expect(again.status == 2 && again.stderr.contains("--secret-out") && again.stderr.contains("exists"))
        #expect(try String(contentsOfFile: scratch.path("w.secret"), encoding: .utf8).contains(secret), "an existing secret file was replaced")
        let role = try CLI.run(["token", "new", "--role", "root", "--name", "x", "--secret-out", scratch.path("r.secret")])
        #expect(role.status == 2 && role.stderr.contains("--role 'root'"))
        let name = try CLI.run(["token", "new", "--role", "read", "--name", "a b", "--secret-out", scratch.path("n.secret")])
        #expect(name.status == 2 && name.stderr.contains("--name"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("r.secret")) && !FileManager.default.fileExists(atPath: scratch.path("n.secret")))
    }

    @Test("over TLS with role tokens: --ca-file works on status and report; wrong CA, expired certificate and host-name mismatch exit 2 naming host and reason")
    func tlsClients() async throws {
        let pki = try PKI()
        let lines = [try newToken(pki, role: "read", name: "reader"), try newToken(pki, role: "worker", name: "node")]
        try (lines.joined(separator: "\n") + "\n").write(toFile: pki.path("tokens.txt"), atomically: true, encoding: .utf8)
        let server = try await ServerProcess(db: pki.path("db.sqlite"), extra: ["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"),
                                                                             "--tokens", pki.path("tokens.txt")])
        defer { server.stop() }
        let url = server.url.absoluteString.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        #expect(url.hasPrefix("https://localhost:"))
        func status(_ extra: [String], url: String = url, token: String = "reader") throws -> CLI.Result {
            try CLI.run(["status", "--coordinator", url, "--token-file", pki.path("\(token).secret")] + extra + ["no-such-job"])
        }
        // Trusted: the coordinator answers (404 for a job it does not know).
        let ok = try status(["--ca-file", pki.path("ca.pem")])
        #expect(ok.status == 2 && ok.stderr.contains("404") && ok.stderr.contains("no-such-job"), "\(ok.stderr)")
        let report = try CLI.run(["report", "--coordinator", url, "--token-file", pki.path("reader.secret"), "--ca-file", pki.path("ca.pem"), "no-such-job"])
        #expect(report.status == 2 && report.stderr.contains("404"), "\(report.stderr)")
        // A worker token may not read status: 403 naming the role needed.
        let forbidden = try status(["--ca-file", pki.path("ca.pem")], token: "node")
        #expect(forbidden.status == 2 && forbidden.stderr.contains("403") && forbidden.stderr.contains("read"), "\(forbidden.stderr)")
        // The system store alone, and another CA: not trusted.
        for extra in [[], ["--ca-file", pki.path("other-ca.pem")]] {
            let untrusted = try status(extra)
            #expect(untrusted.status == 2 && untrusted.stderr.contains("localhost") && untrusted.stderr.contains("not signed by a CA this client trusts"), "\(untrusted.stderr)")
        }
        // A name the certificate does not list.
        let mismatch = try status(["--ca-file", pki.path("ca.pem")], url: server.url.absoluteString)
        #expect(mismatch.status == 2 && mismatch.stderr.contains("not valid for the name 127.0.0.1"), "\(mismatch.stderr)")
        // The worker stops at once with the same message, instead of retrying for its patience.
        let worker = try CLI.run(["worker", "--coordinator", url, "--token-file", pki.path("node.secret"), "--patience", "20", "--threads", "1"])
        #expect(worker.status == 2 && worker.stderr.contains("not signed by a CA this client trusts"), "\(worker.stderr)")
        // A CA file that is not one, and one given for plain http.
        let missing = try status(["--ca-file", pki.path("nope.pem")])
        #expect(missing.status == 2 && missing.stderr.contains("--ca-file") && missing.stderr.contains("nope.pem"), "\(missing.stderr)")
        let notPEM = try status(["--ca-file", pki.path("tokens.txt")])
        #expect(notPEM.status == 2 && notPEM.stderr.contains("--ca-file"), "\(notPEM.stderr)")
        let plain = try status(["--ca-file", pki.path("ca.pem")], url: url.replacingOccurrences(of: "https://", with: "http://"))
        #expect(plain.status == 2 && plain.stderr.contains("--ca-file"), "\(plain.stderr)")

        // Expired.
        let expired = try await ServerProcess(db: pki.path("db2.sqlite"), extra: ["--tls-cert", pki.path("expired.pem"), "--tls-key", pki.path("expired.key"),
                                                                               "--tokens", pki.path("tokens.txt")])
        defer { expired.stop() }
        let old = try status(["--ca-file", pki.path("ca.pem")], url: expired.url.absoluteString)
        #expect(old.status == 2 && old.stderr.contains("127.0.0.1") && old.stderr.contains("expired on 2020-01-02"), "\(old.stderr)")
    }

    @Test("cancel from the command line: the submitter's name in status, another submit token refused (exit 2, 403), the owner cancels, status says CANCELLED")
    func cancelCommand() async throws {
        let pki = try PKI()
        let lines = [try newToken(pki, role: "submit", name: "alice"), try newToken(pki, role: "submit", name: "bob"), try newToken(pki, role: "read", name: "reader")]
        try (lines.joined(separator: "\n") + "\n").write(toFile: pki.path("tokens.txt"), atomically: true, encoding: .utf8)
        let made = try CLI.run(["synthesize", "--layout", "job", "--out", pki.path("data"), "--classes", "10", "--negatives", "50", "--dim", "16",
                                "--id-samples", "200", "--ood-samples", "100"])
        #expect(made.status == 0, "\(made.stderr)")
        try """
        name: cancel-me
        id: {features: data/id.npy, labels: data/id-labels.npy}
        ood:
          - {name: covered, group: far, features: data/ood-covered.npy}
        negatives: {count: 50, text_features: data/text.npy}
        scoring: {batch_size: 16}
        unit_batches: 1
        seed: 0

        """.write(toFile: pki.path("job.yaml"), atomically: true, encoding: .utf8)
        let server = try await ServerProcess(db: pki.path("db.sqlite"), extra: ["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"),
                                                                             "--tokens", pki.path("tokens.txt")])
        defer { server.stop() }
        let url = server.url.absoluteString.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        func run(_ command: String, _ token: String, _ rest: [String]) throws -> CLI.Result {
            try CLI.run([command, "--coordinator", url, "--token-file", pki.path("\(token).secret"), "--ca-file", pki.path("ca.pem")] + rest)
        }
        let submitted = try run("submit", "alice", [pki.path("job.yaml")])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(try run("status", "reader", ["cancel-me"]).stdout.contains("submitted by token alice"))
        let refused = try run("cancel", "bob", ["cancel-me"])
        #expect(refused.status == 2 && refused.stderr.contains("403") && refused.stderr.contains("alice"), "\(refused.stderr)")
        let reader = try run("cancel", "reader", ["cancel-me"])
        #expect(reader.status == 2 && reader.stderr.contains("403"), "\(reader.stderr)")
        let cancelled = try run("cancel", "alice", ["cancel-me"])
        #expect(cancelled.status == 0 && cancelled.stdout.contains("cancelled job 'cancel-me'") && cancelled.stdout.contains("dropped"), "\(cancelled.stdout) \(cancelled.stderr)")
        let status = try run("status", "reader", ["cancel-me"])
        #expect(status.stdout.contains("CANCELLED"), "\(status.stdout)")
        let missing = try run("cancel", "alice", ["no-such-job"])
        #expect(missing.status == 2 && missing.stderr.contains("404"), "\(missing.stderr)")
    }

    @Test("serve: bad TLS, token and limit options exit 2 naming the flag; plain HTTP beyond loopback warns that tokens travel in clear")
    func serveOptions() async throws {
        let pki = try PKI()
        try "admin ops sha256:\(String(repeating: "ab", count: 32))\nboss x sha256:\(String(repeating: "cd", count: 32))\n"
            .write(toFile: pki.path("bad-tokens.txt"), atomically: true, encoding: .utf8)
        try "s3cret\n".write(toFile: pki.path("admin.secret"), atomically: true, encoding: .utf8)
        let db = pki.path("db.sqlite")
        let cases: [([String], [String])] = [
            (["--tls-cert", pki.path("server.pem")], ["--tls-cert and --tls-key go together"]),
            (["--tls-cert", pki.path("nope.pem"), "--tls-key", pki.path("server.key")], ["--tls-cert", "nope.pem"]),
            (["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("other-ca.key")], ["--tls-key", "does not match"]),
            (["--tls-cert", pki.path("bad-tokens.txt"), "--tls-key", pki.path("server.key")], ["--tls-cert", "bad-tokens.txt"]),
            (["--tokens", pki.path("bad-tokens.txt")], ["bad-tokens.txt line 2", "unknown role 'boss'"]),
            (["--tokens", pki.path("nope.txt")], ["--tokens", "nope.txt"]),
            (["--max-connections", "0"], ["--max-connections"]),
            (["--max-connections", "100000000"], ["--max-connections"]),
            (["--head-timeout", "0"], ["--head-timeout"]),
            (["--keep-alive", "-1"], ["--keep-alive"]),
        ]
        for (extra, needles) in cases {
            let r = try CLI.run(["serve", "--db", db, "--port", "0"] + extra)
            #expect(r.status == 2 && needles.allSatisfy(r.stderr.contains), "\(extra): \(r.status) \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: db), "a refused serve created its database")
        // Plain HTTP beyond loopback: a warning at start-up.
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["serve", "--db", db, "--host", "0.0.0.0", "--port", "0", "--token-file", pki.path("admin.secret")]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        var stderr = ""
        try await Wait.until(20, "serve's start-up warning") {
            stderr += String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
            return stderr.contains("plain HTTP")
        }
        #expect(stderr.contains("travel in clear") && stderr.contains("--tls-cert"))
    }

    @Test("SIGHUP reloads the certificate and the tokens file; a pair that does not load keeps the previous one")
    func reloadOnHangup() async throws {
        let pki = try PKI()
        try (try newToken(pki, role: "read", name: "reader") + "\n").write(toFile: pki.path("tokens.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: pki.path("server.pem"), toPath: pki.path("live.pem"))
        try FileManager.default.copyItem(atPath: pki.path("server.key"), toPath: pki.path("live.key"))
        let server = try await ServerProcess(db: pki.path("db.sqlite"), extra: ["--tls-cert", pki.path("live.pem"), "--tls-key", pki.path("live.key"),
                                                                             "--tokens", pki.path("tokens.txt")])
        defer { server.stop() }
        func status(_ ca: String, token: String = "reader") throws -> CLI.Result {
            try CLI.run(["status", "--coordinator", server.url.absoluteString.replacingOccurrences(of: "127.0.0.1", with: "localhost"), "--token-file", pki.path("\(token).secret"), "--ca-file", pki.path(ca), "no-such-job"])
        }
        #expect(try status("ca.pem").stderr.contains("404"))
        #expect(try status("other-ca.pem").stderr.contains("not signed by a CA"))
        // A broken pair on reload keeps the old one.
        try "not a certificate".write(toFile: pki.path("live.pem"), atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(server.process.isRunning)
        #expect(try status("ca.pem").stderr.contains("404"), "a failed reload must keep the previous certificate")
        // The new pair (another CA) and a new token.
        try FileManager.default.removeItem(atPath: pki.path("live.pem"))
        try FileManager.default.removeItem(atPath: pki.path("live.key"))
        try FileManager.default.copyItem(atPath: pki.path("server2.pem"), toPath: pki.path("live.pem"))
        try FileManager.default.copyItem(atPath: pki.path("server2.key"), toPath: pki.path("live.key"))
        let added = try newToken(pki, role: "read", name: "second")
        try (try String(contentsOfFile: pki.path("tokens.txt"), encoding: .utf8) + added + "\n").write(toFile: pki.path("tokens.txt"), atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        try await Wait.until(10, "the reloaded certificate") { try status("other-ca.pem").stderr.contains("404") }
        #expect(try status("ca.pem").stderr.contains("not signed by a CA"))
        #expect(try status("other-ca.pem", token: "second").stderr.contains("404"))
    }
}
