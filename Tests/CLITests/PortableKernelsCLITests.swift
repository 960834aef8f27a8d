import Foundation
import NPY
import Platform
import Testing

/// A CPU without AVX-512, simulated on this one (issue 25): oneDNN capped at AVX2
/// (`ONEDNN_MAX_CPU_ISA` for 3.x, `DNNL_MAX_CPU_ISA` for 2.x) and OpenBLAS on its `Haswell`
/// kernel. The towers must give the same features within the precision bounds, through the
/// same converted-weights cache folder: an entry packed for the AVX-512 kernels is rebuilt under
/// AVX2 (its packing signature differs), never read in a layout the AVX2 kernels do not use.
@Suite("Kernels without AVX-512", .serialized)
struct PortableKernelsCLITests {
    static let avx2: [String: String?] = ["ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"]

    func rows(_ path: String) throws -> [[Float]] {
        let m = try NPYFile.readMatrix(path)
        return (0..<m.rows).map { Array(m.values[$0 * m.cols ..< ($0 + 1) * m.cols]) }
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    @Test("embed-images and embed-text under ONEDNN_MAX_CPU_ISA=AVX2 and OPENBLAS_CORETYPE=Haswell: fp32 within cosine 0.99999 of the default kernels, bf16 within 0.999 of fp32; the cache is rebuilt, not misread")
    func avx2MatchesDefault() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let images = TextCommandsTests.fixtures.appendingPathComponent("images")
        let list = ["drawing.png", "drawing_odd.png", "drawing_grey.png"].map { images.appendingPathComponent($0).path }
        try (list.joined(separator: "\n") + "\n").write(toFile: s.path("images.txt"), atomically: true, encoding: .utf8)
        try "a photo of a cat\nThe nice tench.\nblue\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        let cache: [String: String?] = ["ADANEG_CACHE_DIR": s.path("cache")]
        let bf16 = CPUFeatures.current.hasNativeBF16
        for (command, input, flag) in [("embed-images", "images.txt", "--images"), ("embed-text", "texts.txt", "--texts")] {
            var outputs: [String: [[Float]]] = [:]
            for (label, env) in [("default", cache), ("avx2", cache.merging(Self.avx2) { $1 })] {
                for precision in bf16 ? ["fp32", "bf16"] : ["fp32"] {
                    let out = s.path("\(command)-\(label)-\(precision).npy")
                    let result = try CLI.run([command, "--model", model, flag, s.path(input), "--out", out, "--precision", precision],
                                             environment: env)
                    #expect(result.status == 0, "\(command) \(label) \(precision): \(result.stderr)")
                    outputs["\(label)-\(precision)"] = try rows(out)
                }
            }
            let reference = try #require(outputs["default-fp32"])
            for (key, value) in outputs where key != "default-fp32" {
                #expect(value.count == reference.count)
                let bound = key.hasSuffix("fp32") ? 0.99999 : 0.999
                for (r, (a, b)) in zip(reference, value).enumerated() {
                    let c = cosine(a, b)
                    #expect(c >= bound, "\(command) \(key) row \(r): cosine \(c) to the default fp32")
                }
            }
        }
        // doctor under AVX2 names kernels that are not AVX-512 ones, and no packed layout.
        let doctor = try CLI.run(["doctor", "--json", "--seconds", "0"], environment: Self.avx2)
        #expect(doctor.status == 0, "\(doctor.stderr)")
        #expect(doctor.stdout.contains("\"kernels\"") && !doctor.stdout.contains("avx512_core"), "\(doctor.stdout)")
    }
}
