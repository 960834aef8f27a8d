import Foundation
import NIOConcurrencyHelpers
import NIOSSL
import Platform

/// The coordinator's certificate and key (`serve --tls-cert --tls-key`), reloadable: a reload
/// (SIGHUP) swaps the context that new connections use, while those already open keep theirs,
/// so no lease in flight is dropped. A reload that fails keeps the previous pair.
public final class ReloadableTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let current: NIOLockedValueBox<NIOSSLContext>

    public init(certificatePath: String, keyPath: String) throws(TLSSetupError) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.current = NIOLockedValueBox(try Self.load(certificatePath: certificatePath, keyPath: keyPath))
    }

    /// The context for a new connection.
    var context: NIOSSLContext { current.withLockedValue { $0 } }

    /// Reads the pair again; on failure the previous one stays in use and the error says why.
    public func reload() throws(TLSSetupError) {
        let fresh = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        current.withLockedValue { $0 = fresh }
    }

    /// A server context from PEM files: the certificate chain (leaf first) and its private key.
    /// TLS 1.2 at least; the key must belong to the leaf certificate.
    static func load(certificatePath: String, keyPath: String) throws(TLSSetupError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(try RegularFile.read(certificatePath, maxBytes: 1 << 20)))
        } catch let error as RegularFileError {
            throw .unreadable(flag: "--tls-cert", path: certificatePath, reason: error.reason)
        } catch {
            throw .invalid(flag: "--tls-cert", path: certificatePath, reason: "not a PEM certificate (\(error))")
        }
        guard !chain.isEmpty else { throw .invalid(flag: "--tls-cert", path: certificatePath, reason: "holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(try RegularFile.read(keyPath, maxBytes: 1 << 20)), format: .pem)
        } catch let error as RegularFileError {
            throw .unreadable(flag: "--tls-key", path: keyPath, reason: error.reason)
        } catch {
            throw .invalid(flag: "--tls-key", path: keyPath, reason: "not a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .invalid(flag: "--tls-key", path: keyPath, reason: "does not match the certificate in \(certificatePath) (\(error))")
        }
    }
}

public enum TLSSetupError: Error, CustomStringConvertible {
    case unreadable(flag: String, path: String, reason: String)
    case invalid(flag: String, path: String, reason: String)
    case incomplete

    public var description: String {
        switch self {
        case let .unreadable(flag, path, reason): "\(flag) \(path): cannot read it: \(reason)"
        case let .invalid(flag, path, reason): "\(flag) \(path): \(reason)"
        case .incomplete: "--tls-cert and --tls-key go together: give both, or neither for plain HTTP"
        }
    }
}
