@testable import Coordinator
import Foundation
import JobProtocol
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 23: tokens with roles. Every role against every route, from the one table the server
/// enforces; the table against the router and against `openapi.yaml`.
@Suite("Tokens with roles", .serialized)
struct AccessPolicyTests {
    static let secrets: [Role: String] = [.admin: "admin-secret", .submit: "submit-secret", .worker: "worker-secret", .read: "read-secret"]

    static func tokens() -> AccessTokens {
        AccessTokens(Role.allCases.map { AccessToken(role: $0, name: "\($0.rawValue)-token", secret: secrets[$0]!) })
    }

    func call(_ port: Int, _ method: String, _ path: String, body: Data?, secret: String?) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.setValue(path.hasSuffix("/bank") ? "application/octet-stream" : "application/json", forHTTPHeaderField: "Content-Type")
        if let secret { request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("every role × every route: 200 (or the route's own answer) when allowed, 403 naming the role when not, 401 without a known token")
    func roleTable() async throws {
        try await TestCluster.with(tokens: Self.tokens()) { cluster in
            let job = try FeaturesJob(in: cluster.directory, shape: .init(classes: 5, negatives: 20, dimension: 8, idSamples: 40, oodSamples: 24),
                                      kinds: [.covered], batchSize: 16, unitBatches: 1)
            let submitted = try await cluster.coordinator.submit(try job.spec())
            // As if the submit token had submitted it: it may then cancel it (the routes are walked in
            // order, so the cancel comes after every read of the job and before the worker's calls).
            try await cluster.coordinator.recordSubmitter(job: submitted.job, name: "submit-token")
            let task = try await cluster.coordinator.tasks(job: submitted.job)[0]
            let unit = try await cluster.coordinator.units(task: task.id)[0]
            let artefact = try await cluster.coordinator.plan(job: submitted.job).artefacts?.values.first?.sha256 ?? String(repeating: "0", count: 64)
            // A concrete request per route: ids of the job above, bodies a handler accepts or refuses
            // on its own grounds (never on authentication).
            func concrete(_ route: String) -> (method: String, path: String, body: Data?) {
                let parts = route.split(separator: " ", maxSplits: 1)
                let path = String(parts[1]).replacingOccurrences(of: "{name}", with: submitted.name)
                    .replacingOccurrences(of: "{job}", with: "\(submitted.job)").replacingOccurrences(of: "{sha256}", with: artefact)
                    .replacingOccurrences(of: "{unit}", with: "\(unit.id)").replacingOccurrences(of: "{task}", with: "\(task.id)")
                let query = path.hasSuffix("/results") ? "?task=\(task.id)" : ""
                let body: Data? = switch route {
                case "POST /v1/leases", "POST /v1/sweep-leases": Data(#"{"worker":"probe","host":"h"}"#.utf8)
                case "POST /v1/jobs": Data("name: x\nbogus_key: 1\n".utf8) // refused by validation (400), after authorisation
                case _ where route.hasPrefix("POST /v1/units/"): Data(#"{"worker":"nobody"}"#.utf8) // 409: not the holder
                case _ where route.hasSuffix("/bank"): Data("garbage".utf8) // 400: not a bank delta
                default: route.hasPrefix("POST") ? Data() : nil
                }
                return (String(parts[0]), path + query, body)
            }
            // Which answer the handler gives an authorised caller: 200 where the request above is
            // complete, else the route's own refusal.
            let ownAnswer: [String: Set<Int>] = [
                "POST /v1/jobs": [400], "POST /v1/units/{unit}/heartbeat": [409], "POST /v1/units/{unit}/complete": [400, 409],
                "POST /v1/units/{unit}/fail": [409], "POST /v1/units/{unit}/release": [409], "POST /v1/tasks/{task}/bank": [400],
                // No worker or attempt in the query: refused after the role check.
                "GET /v1/units/{unit}/rows": [400],
                // Sweeps: an empty body, a literal "{id}" or no worker in the query: 400 after the role check.
                "POST /v1/sweeps": [400], "GET /v1/sweeps/{id}": [400], "GET /v1/sweeps/{id}/results": [400],
                "GET /v1/sweep-units/{unit}/features": [400], "POST /v1/sweep-units/{unit}/heartbeat": [400],
                "POST /v1/sweep-units/{unit}/complete": [400], "POST /v1/sweep-units/{unit}/fail": [400],
            ]
            var rows = 0
            for (route, allowed) in AccessPolicy.rules.sorted(by: { $0.key < $1.key }) {
                let (method, path, body) = concrete(route)
                for role in Role.allCases {
                    let (status, text) = try await call(cluster.port, method, path, body: body, secret: Self.secrets[role])
                    if allowed.isEmpty || allowed.contains(role) {
                        #expect((ownAnswer[route] ?? [200]).contains(status), "\(role) \(route): \(status) \(text)")
                    } else {
                        #expect(status == 403, "\(role) \(route): \(status) \(text)")
                        #expect(text.contains("\(role.rawValue)-token") && text.contains(AccessPolicy.describe(allowed)), "\(text)")
                    }
                    rows += 1
                }
                for secret in [nil, "unknown-secret", ""] as [String?] {
                    let (status, _) = try await call(cluster.port, method, path, body: body, secret: secret)
                    #expect(status == (allowed.isEmpty ? 200 : 401), "\(secret ?? "no token") \(route): \(status)")
                    rows += 1
                }
            }
            #expect(rows == AccessPolicy.rules.count * (Role.allCases.count + 3))
            // The two refusals the issue names.
            #expect(try await call(cluster.port, "POST", "/v1/jobs", body: Data("name: x\n".utf8), secret: Self.secrets[.worker]).0 == 403)
            #expect(try await call(cluster.port, "POST", "/v1/leases", body: Data(#"{"worker":"w","host":"h"}"#.utf8), secret: Self.secrets[.read]).0 == 403)
        }
    }

    @Test("the policy names exactly the routes the router registers")
    func policyCoversRouter() throws {
        let served = Set(CoordinatorRoutes.registeredRoutes(coordinator: try Coordinator(databasePath: ":memory:")))
        let ruled = Set(AccessPolicy.rules.keys)
        #expect(served == ruled, "served without a rule: \(served.subtracting(ruled)); ruled but not served: \(ruled.subtracting(served))")
        // Unknown routes fail closed.
        #expect(AccessPolicy.roles(method: "DELETE", path: "/v1/jobs/x").roles == [.admin])
        #expect(AccessPolicy.roles(method: "GET", path: "/v1/jobs/x/progress").route == "GET /v1/jobs/{name}/progress")
        #expect(AccessPolicy.roles(method: "GET", path: "/v1/jobs//progress").route == nil)
    }

    @Test("openapi.yaml declares each operation's roles as the policy does")
    func openAPIRoles() throws {
        var documented: [String: Set<Role>] = [:]
        for (operation, lines) in try OpenAPIDocument.operations() {
            guard let line = lines.first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("x-roles:") }) else { continue }
            let list = line.split(separator: "[").last?.split(separator: "]").first ?? ""
            documented[operation] = Set(list.split(separator: ",").compactMap { Role(rawValue: $0.trimmingCharacters(in: .whitespaces)) })
        }
        #expect(documented == AccessPolicy.rules, "openapi x-roles differ from AccessPolicy.rules: \(documented) vs \(AccessPolicy.rules)")
    }

    @Test("a tokens file: lines parsed, every problem named with its line; lookups by secret")
    func tokensFile() throws {
        let admin = AccessToken(role: .admin, name: "ops", secret: "one")
        let worker = AccessToken(role: .worker, name: "node-1", secret: "two")
        let table = try AccessTokens.parse("# tokens\n\n\(admin.line)\n  \(worker.line)  \n", path: "t.txt")
        #expect(table.tokens == [admin, worker])
        #expect(table.match(secret: "two") == worker && table.match(secret: "one") == admin)
        #expect(table.match(secret: "three") == nil && table.match(secret: "") == nil)
        let bad: [(String, String)] = [
            ("boss ops sha256:\(String(repeating: "ab", count: 32))", "line 1: unknown role 'boss'"),
            ("admin ops", "line 1: expected"),
            ("admin ops one", "line 1: the third field must be sha256:"),
            ("admin ops sha256:abcd", "line 1: the third field"),
            ("admin o\u{1b}ps sha256:\(String(repeating: "ab", count: 32))", "line 1: the token name has the character U+001B"),
            ("\(admin.line)\n\(admin.line)", "line 2: token name 'ops' appears twice"),
            ("\(admin.line)\nread other sha256:\(admin.digest.map { String(format: "%02x", $0) }.joined())", "line 2: this digest appears twice"),
        ]
        for (text, message) in bad {
            #expect(throws: TokensFileError.self) { try AccessTokens.parse(text, path: "t.txt") }
            do { _ = try AccessTokens.parse(text, path: "t.txt") } catch {
                #expect(error.description.contains("t.txt \(message)"), "\(error.description)")
            }
        }
        #expect(AccessTokens.constantTimeEqual([1, 2, 3], [1, 2, 3]) && !AccessTokens.constantTimeEqual([1, 2, 3], [1, 2, 4]) && !AccessTokens.constantTimeEqual([1], [1, 1]))
    }

    @Test("a registry swap (SIGHUP's reload) takes effect for the next request")
    func tokensReload() async throws {
        let registry = TokenRegistry(AccessTokens([AccessToken(role: .read, name: "old", secret: "old-secret")]))
        try await TestCluster.with(registry: registry) { (cluster) async throws in
            #expect(try await call(cluster.port, "GET", "/v1/jobs", body: nil, secret: "old-secret").0 == 200)
            registry.replace(with: AccessTokens([AccessToken(role: .read, name: "new", secret: "new-secret")]))
            #expect(try await call(cluster.port, "GET", "/v1/jobs", body: nil, secret: "old-secret").0 == 401)
            #expect(try await call(cluster.port, "GET", "/v1/jobs", body: nil, secret: "new-secret").0 == 200)
        }
    }
}
