import Foundation
import Platform

/// Identifies a model directory's weights and architecture: FNV-1a (64-bit) over
/// `config.json` and `model.safetensors`, read as little-endian 64-bit words (the tail
/// byte-wise), with each file's length mixed in.
///
/// Stored features are keyed by it, so two machines whose model directories differ in any
/// byte never share features, and reports cite it so a result can be traced to its weights.
/// It is an identity check, not a cryptographic one; at about 1 GB/s it costs well under a
/// second for ViT-B models.
public enum ModelChecksum {
    public static func of(directory: String) throws -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for name in [CLIPModel.configFile, CLIPModel.weightsFile] {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else {
                throw CheckpointError.missingFile(path: path, what: name == CLIPModel.configFile ? "CLIP config" : "CLIP weights")
            }
            try RegularFile.check(path)
            let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
            hash = mix(hash, UInt64(data.count))
            hash = data.withUnsafeBytes { raw in
                var h = hash
                let words = raw.count / 8
                for w in 0..<words { h = mix(h, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self))) }
                for b in (words * 8)..<raw.count { h = mix(h, UInt64(raw[b])) }
                return h
            }
        }
        return "fnv1a64:" + String(hash, radix: 16).leftPadded(to: 16)
    }

    @inline(__always)
    static func mix(_ h: UInt64, _ word: UInt64) -> UInt64 { (h ^ word) &* 0x0000_0100_0000_01b3 }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
