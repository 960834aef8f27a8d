import Crypto
import Foundation
import JobProtocol
import NIOConcurrencyHelpers
import Platform

/// A token the coordinator accepts: its role, its name (recorded on the jobs it submits) and
/// the sha256 of its secret. The server never holds the secrets themselves.
public struct AccessToken: Sendable, Equatable {
    public var role: Role
    public var name: String
    public var digest: [UInt8]

    public init(role: Role, name: String, digest: [UInt8]) {
        self.role = role
        self.name = name
        self.digest = digest
    }

    /// The token for a secret (what `--token-file` gives: one admin token).
    public init(role: Role, name: String, secret: String) {
        self.init(role: role, name: name, digest: Array(SHA256.hash(data: Data(secret.utf8))))
    }

    /// Its line in a tokens file: `ROLE NAME sha256:HEX`.
    public var line: String { "\(role.rawValue) \(name) sha256:\(digest.map { String(format: "%02x", $0) }.joined())" }
}

/// The tokens a coordinator accepts (`serve --tokens FILE`, `--token-file`), looked up in
/// constant time: the presented secret is hashed, and its digest compared with every entry's in
/// full, so the time taken says nothing about how close a guess came.
public struct AccessTokens: Sendable, Equatable {
    public var tokens: [AccessToken]

    public init(_ tokens: [AccessToken]) { self.tokens = tokens }

    /// The token whose secret is `secret`, if any.
    public func match(secret: Substring) -> AccessToken? {
        let digest = Array(SHA256.hash(data: Data(secret.utf8)))
        var found: AccessToken?
        for token in tokens where Self.constantTimeEqual(token.digest, digest) { found = token }
        return found
    }

    /// Equal arrays of equal length, comparing every byte whatever the first difference.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Parses a tokens file: one `ROLE NAME sha256:HEX` per line (what `adaneg token new`
    /// prints); blank lines and lines starting with `#` are skipped. Every problem names the
    /// file and the line; two entries with one name or one digest are refused.
    public static func parse(_ text: String, path: String) throws(TokensFileError) -> AccessTokens {
        var tokens: [AccessToken] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let at = "\(path) line \(index + 1)"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3 else { throw .malformed("\(at): expected 'ROLE NAME sha256:HEX' (three fields), found \(fields.count)") }
            guard let role = Role(rawValue: String(fields[0])) else {
                throw .malformed("\(at): unknown role '\(TerminalText.escaped(String(fields[0].prefix(40))))' (roles: \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let name = String(fields[1])
            if let problem = WorkerIdentity.problem(name, field: "the token name") { throw .malformed("\(at): \(problem)") }
            guard fields[2].hasPrefix("sha256:"), let digest = Self.hex(fields[2].dropFirst(7)), digest.count == 32 else {
                throw .malformed("\(at): the third field must be sha256: and 64 hex digits (what `adaneg token new` prints), not the secret itself")
            }
            if tokens.contains(where: { $0.name == name }) { throw .malformed("\(at): token name '\(name)' appears twice") }
            if tokens.contains(where: { $0.digest == digest }) { throw .malformed("\(at): this digest appears twice (one secret, two entries)") }
            tokens.append(AccessToken(role: role, name: name, digest: digest))
        }
        return AccessTokens(tokens)
    }

    /// Reads and parses `path` (`serve --tokens`).
    public static func read(path: String) throws(TokensFileError) -> AccessTokens {
        let data: Data
        do { data = try RegularFile.read(path, maxBytes: 16 << 20) } catch {
            throw .malformed("--tokens \(path): cannot read the tokens file: \(error.reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .malformed("--tokens \(path): the tokens file is not UTF-8 text") }
        return try parse(text, path: path)
    }

    static func hex(_ text: Substring) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

public struct TokensFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    static func malformed(_ message: String) -> TokensFileError { TokensFileError(description: message) }
}

/// The tokens in force, swapped whole by a reload (SIGHUP): a request sees either the old
/// table or the new one.
public final class TokenRegistry: Sendable {
    private let table: NIOLockedValueBox<AccessTokens>

    public init(_ tokens: AccessTokens) { table = NIOLockedValueBox(tokens) }

    public var current: AccessTokens { table.withLockedValue { $0 } }

    public func replace(with tokens: AccessTokens) { table.withLockedValue { $0 = tokens } }
}
