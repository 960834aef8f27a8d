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

    @Test("mine-negatives under AVX2 + Haswell: the same candidates with η within 1e-4 and rows within cosine 0.99999 (every candidate chosen, compared by label); the measured chunk size is kept per kernel set")
    func avx2Mining() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        try "tench\ngoldfish\ngreat white shark\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let nouns = ["rock", "cloud", "violin", "tax", "bridge", "ladder", "cathedral", "algebra", "umbrella", "volcano", "kettle", "harbour"]
        let adjectives = ["quick", "purple", "sleepy", "wooden", "angry", "hollow"]
        try ((nouns.map { "\($0)\tnoun" } + adjectives.map { "\($0)\tadj" }).joined(separator: "\n") + "\n")
            .write(toFile: s.path("lexicon.tsv"), atomically: true, encoding: .utf8)
        let cache: [String: String?] = ["ADANEG_CACHE_DIR": s.path("cache"), "ADANEG_WEIGHT_CACHE": nil, "ADANEG_TEXT_CHUNK_ROWS": nil]
        // label+pos -> (η, feature row). The tiny fixture model's η lie close together, so their
        // order may differ between kernels; every candidate is chosen and compared by label.
        var found: [String: [String: (eta: Double, row: [Float])]] = [:]
        for (label, env) in [("default", cache), ("avx2", cache.merging(Self.avx2) { $1 })] {
            let out = s.path("negatives-\(label)")
            let run = try CLI.run(["mine-negatives", "--model", model, "--classes", s.path("classes.txt"), "--out", out,
                                   "--count", String(nouns.count + adjectives.count), "--lexicon", s.path("lexicon.tsv"), "--precision", "fp32"],
                                  environment: env)
            #expect(run.status == 0, "\(label): \(run.stderr)")
            let lines = try String(contentsOfFile: out + "/negatives.tsv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: "\t") }
            let features = try rows(out + "/text-features.npy")
            #expect(lines.count == nouns.count + adjectives.count && features.count == 3 + lines.count)
            var byLabel: [String: (eta: Double, row: [Float])] = [:]
            for (i, line) in lines.enumerated() where line.count == 3 {
                byLabel["\(line[0]) \(line[1])"] = (Double(line[2]) ?? .nan, features[3 + i])
            }
            found[label] = byLabel
        }
        let (a, b) = (try #require(found["default"]), try #require(found["avx2"]))
        #expect(Set(a.keys) == Set(b.keys) && a.count == nouns.count + adjectives.count)
        for (key, x) in a {
            guard let y = b[key] else { continue }
            #expect(abs(x.eta - y.eta) <= 1e-4, "η of \(key): \(x.eta) vs \(y.eta)")
            #expect(cosine(x.row, y.row) >= 0.99999, "row of \(key)")
        }
        // Each kernel set measured the chunk size once and keeps its own file (the key names the kernels).
        let files = try FileManager.default.contentsOfDirectory(atPath: s.path("cache/weights")).filter { $0.hasPrefix("cpu-choices-") && $0.hasSuffix(".json") }
        #expect(files.count == 2, "\(files)")
    }
}
