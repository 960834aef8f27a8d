import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Platform

/// The trust a client places in a coordinator's certificate: the system store, plus the
/// private CA of `--ca-file` when given. There is no setting that turns verification off.
public struct TLSTrust: Hashable, Sendable {
    /// PEM file of extra trusted CA certificates, or nil for the system store alone.
    public var caFile: String?

    public init(caFile: String? = nil) { self.caFile = caFile }

    /// Checks `--ca-file` before anything connects: a regular file holding PEM certificates.
    /// The message names the flag, the path and what is wrong.
    public static func check(caFile path: String) throws(TLSTrustError) {
        let data: Data
        do { data = try RegularFile.read(path, maxBytes: 4 << 20) } catch {
            throw TLSTrustError(description: "--ca-file \(path): cannot read it: \(error.reason)")
        }
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMBytes(Array(data)) } catch {
            throw TLSTrustError(description: "--ca-file \(path): not a PEM certificate file (\(error))")
        }
        if certificates.isEmpty { throw TLSTrustError(description: "--ca-file \(path): holds no PEM certificate") }
    }

    /// The client configuration: full verification (chain and host name) against the system
    /// store and the CA file.
    var configuration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        return configuration
    }
}

public struct TLSTrustError: Error, CustomStringConvertible {
    public let description: String
}

/// Why a TLS connection to the coordinator failed, in words that name the host and the cause:
/// a certificate for another name, an expired one, or one no trusted CA signed.
enum TLSFailure {
    /// The reason for `error`, or nil when it is not a TLS failure.
    static func reason(_ error: any Error, host: String, port: Int, trust: TLSTrust) async -> String? {
        let text = String(describing: error)
        if text.contains("failedToValidateHostname") {
            return "the certificate of \(host) is not valid for the name \(host) (it names other hosts; connect by a name the certificate lists)"
        }
        guard let ssl = error as? NIOSSLError else { return nil }
        switch ssl {
        case let .handshakeFailed(inner):
            let details = String(describing: inner)
            if details.contains("CERTIFICATE_VERIFY_FAILED") {
                return await diagnose(host: host, port: port, trust: trust)
            }
            if details.contains("WRONG_VERSION_NUMBER") || details.contains("HTTP_REQUEST") {
                return "\(host):\(port) does not speak TLS (is it a plain http:// coordinator?)"
            }
            return "TLS handshake with \(host):\(port) failed: \(details.prefix(300))"
        case .noCertificateToValidate: return "\(host) presented no certificate"
        case .uncleanShutdown: return nil // a dropped connection: retried like any other
        default: return "TLS with \(host):\(port) failed: \(ssl)"
        }
    }

    /// After a failed verification, why: the coordinator's certificate is fetched once more
    /// without verifying it, only to read its dates; nothing is sent over that connection and
    /// it is closed at once. Expired, not yet valid, or else signed by no CA this client trusts.
    static func diagnose(host: String, port: Int, trust: TLSTrust) async -> String {
        let untrusted = "the certificate of \(host) is not signed by a CA this client trusts (the system store"
            + (trust.caFile.map { " and --ca-file \($0))" } ?? "; a private CA is given with --ca-file)")
        guard let certificate = await peerCertificate(host: host, port: port) else { return untrusted + "; the certificate could not be read back" }
        let now = time(nil)
        let format: (time_t) -> String = { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0))) }
        if certificate.notValidAfter < now { return "the certificate of \(host) expired on \(format(certificate.notValidAfter))" }
        if certificate.notValidBefore > now { return "the certificate of \(host) is not valid until \(format(certificate.notValidBefore))" }
        return untrusted
    }

    /// The leaf certificate `host:port` presents, read with verification off, or nil.
    static func peerCertificate(host: String, port: Int) async -> NIOSSLCertificate? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        guard let context = try? NIOSSLContext(configuration: configuration) else { return nil }
        let sni = IPv4Address(host) == nil && IPv6Address(host) == nil && !host.hasPrefix("[") ? host : nil
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: sni))
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatch())
                }
            }
        guard let channel = try? await bootstrap.connect(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port).get() else { return nil }
        defer { channel.close(promise: nil) }
        guard let watch = try? await channel.pipeline.handler(type: HandshakeWatch.self).get(),
              (try? await watch.done.futureResult.get()) != nil else { return nil }
        return try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
        }.get()
    }

    /// Completes when the handshake does (or fails when the channel closes first).
    final class HandshakeWatch: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var done: EventLoopPromise<Void>!

        func handlerAdded(context: ChannelHandlerContext) { done = context.eventLoop.makePromise() }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event { done.succeed(()) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ChannelError.eof)
            context.fireChannelInactive()
        }
    }
}

private struct IPv4Address {
    init?(_ text: String) {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
    }
}

private struct IPv6Address {
    init?(_ text: String) {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), &address) == 1 else { return nil }
    }
}
