import Crypto
import Foundation
import Testing
@testable import ModelHub

/// The partial download's writer and its trailing hasher, without a server: what they report
/// must be the sha256 of exactly the bytes in the file, whatever the pieces and the resume.
@Suite("PartialFile and TrailingHasher")
struct PartialFileTests {
    static func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-partial-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Deterministic bytes: pieces of odd sizes, one larger than the 4 MiB gathering buffer.
    static func content(_ count: Int) -> [UInt8] {
        var state: UInt32 = 0x1234_5678
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { DigestCheck.hex(SHA256.hash(data: Data(bytes))) }

    static func append(_ bytes: ArraySlice<UInt8>, to file: PartialFile, pieces: [Int]) throws {
        var offset = bytes.startIndex
        var i = 0
        while offset < bytes.endIndex {
            let end = min(bytes.endIndex, offset + pieces[i % pieces.count])
            try bytes[offset..<end].withUnsafeBytes { try file.append($0) }
            offset = end
            i += 1
        }
    }

    @Test("a whole answer (200) in pieces of 1 byte to 5 MiB: the file and the digest are its bytes")
    func whole() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = Self.content(9_000_001)
        let url = folder.appendingPathComponent("blob.incomplete")
        try Data("stale bytes from an earlier answer".utf8).write(to: url)
        let file = try PartialFile(url: url, expected: .sha256(Self.hex(bytes)))
        try file.begin(status: 200, contentRange: nil)
        try Self.append(bytes[...], to: file, pieces: [1, 16_384, 5_000_000, 777, 65_536])
        try file.flush()
        file.close()
        #expect(file.length == Int64(bytes.count))
        #expect(try Data(contentsOf: url) == Data(bytes))
        #expect(try file.digestMismatch() == nil)
    }

    @Test("a resumed answer (206 at our length): the bytes already there are hashed with the new ones")
    func resumed() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = Self.content(6_000_000)
        let url = folder.appendingPathComponent("blob.incomplete")
        try Data(bytes[0..<2_500_000]).write(to: url)
        let file = try PartialFile(url: url, expected: .sha256(Self.hex(bytes)))
        try file.begin(status: 206, contentRange: "bytes 2500000-5999999/6000000")
        #expect(!file.rangeRejected)
        try Self.append(bytes[2_500_000...], to: file, pieces: [16_384])
        try file.flush()
        file.close()
        #expect(try Data(contentsOf: url) == Data(bytes))
        #expect(try file.digestMismatch() == nil)
    }

    @Test("one changed byte is a mismatch that names the digest actually seen")
    func mismatch() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bytes = Self.content(100_000)
        let want = Self.hex(bytes)
        bytes[50_000] ^= 1
        let file = try PartialFile(url: folder.appendingPathComponent("blob.incomplete"), expected: .sha256(want))
        try file.begin(status: 200, contentRange: nil)
        try Self.append(bytes[...], to: file, pieces: [16_384])
        try file.flush()
        file.close()
        #expect(try file.digestMismatch() == Self.hex(bytes))
    }

    @Test("a cut transfer keeps every byte received for the resume; a dropped writer stops its hasher")
    func cut() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = Self.content(300_000)
        let url = folder.appendingPathComponent("blob.incomplete")
        do {
            let file = try PartialFile(url: url, expected: .sha256(Self.hex(bytes)))
            try file.begin(status: 200, contentRange: nil)
            try Self.append(bytes[0..<123_457], to: file, pieces: [16_384])
            file.close()   // what BlobDownload does when the connection is cut
        }
        #expect(try Data(contentsOf: url) == Data(bytes[0..<123_457]))
    }

    @Test("the hasher reports a file shorter than it was told, instead of a digest")
    func shortFile() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("short")
        try Data(repeating: 7, count: 1000).write(to: url)
        let hasher = try TrailingHasher(path: url.path, written: 1000)
        hasher.advance(to: 2000)
        #expect(throws: HubError.self) { _ = try hasher.finish() }
    }
}
