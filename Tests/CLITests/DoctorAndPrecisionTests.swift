import CLIP
import Foundation
import NPY
import Platform
import Testing

/// `doctor`, the BLAS kernel check at start-up and `--precision`, as a user runs them.
@Suite("Doctor, BLAS kernel and precision", .serialized)
struct DoctorAndPrecisionTests {
    struct Report: Decodable {
        struct CPU: Decodable { var features: [String]; var cores: Int }
        struct BLAS: Decodable { var kernel: String; var threads: Int; var kernelChoice: String }
        struct Precision: Decodable { var name: String; var available: Bool; var gemmGflops: Double? }
        struct Memory: Decodable { var totalBytes: UInt64; var availableBytes: UInt64 }
        var cpu: CPU
        var blas: BLAS
        var precisions: [Precision]
        var autoPrecision: String
        var autoPrecisionReason: String
        var textTower: [String: String]
        struct Choice: Decodable { var name: String; var value: Int; var source: String; var detail: String; var measurement: Measurement? }
        struct Measurement: Decodable { var candidates: [Int]; var seconds: [Double]; var best: Int }
        var choices: [Choice]
        var textLayerGflops: [String: Double]
        var fixedChoices: [String: String]
        var memory: Memory?
    }

    static let clean: [String: String?] = [
        BLASKernelPolicy.coreTypeVariable: nil, BLASKernelPolicy.markerVariable: nil, "ADANEG_BLAS_ASSUME_LOADED_CORE": nil,
    ]

    func doctor(_ extra: [String: String?] = [:], seconds: String = "0.05") throws -> (Report, CLI.Result) {
        let r = try CLI.run(["doctor", "--json", "--seconds", seconds], environment: Self.clean.merging(extra) { $1 })
        #expect(r.status == 0, "\(r.stderr)")
        return (try JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8)), r)
    }

    @Test("doctor --json reports features, kernel, threads, measured GFLOP/s per available precision and memory")
    func doctorJSON() throws {
        let (report, _) = try doctor()
        let cpu = CPUFeatures.current
        #expect(report.cpu.features == cpu.names)
        #expect(report.blas.threads >= 1 && !report.blas.kernel.isEmpty)
        let fp32 = try #require(report.precisions.first { $0.name == "fp32" })
        #expect(fp32.available && (fp32.gemmGflops ?? 0) > 0)
        let bf16 = try #require(report.precisions.first { $0.name == "bf16" })
        #expect(bf16.available == cpu.hasNativeBF16)
        if bf16.available { #expect((bf16.gemmGflops ?? 0) > 0) }
        #expect(report.autoPrecision == (cpu.autoBF16.bf16 ? "bf16" : "fp32"))
        #expect(report.autoPrecisionReason == cpu.autoBF16.reason)
        // The text tower's batching per available precision, the chunk size named.
        #expect(Set(report.textTower.keys) == Set(report.precisions.filter(\.available).map(\.name)))
        #expect(report.textTower.values.allSatisfy { $0.contains("token trie, chunk size") || $0.contains("OpenBLAS") })
        #expect(report.choices.contains { $0.name == "text chunk rows" } && report.fixedChoices["precision"] != nil)
        // The text tower's layer products measured per available precision (oneDNN runs fp32 and bf16 here).
        #expect(!report.textLayerGflops.isEmpty && report.textLayerGflops.allSatisfy { key, rate in rate > 0 && report.precisions.contains { $0.name == key && $0.available } })
        let memory = try #require(report.memory)
        #expect(memory.availableBytes > 0 && memory.availableBytes <= memory.totalBytes)
        // The plain text form carries the same facts.
        let text = try CLI.run(["doctor", "--seconds", "0"], environment: Self.clean)
        #expect(text.status == 0 && text.stdout.contains("kernel:") && text.stdout.contains("precision:  bf16"))
        #expect(text.stdout.contains("auto:       \(report.autoPrecision) (\(report.autoPrecisionReason))") && text.stdout.contains("text fp32:"))
    }

    @Test("doctor shows the text chunk size: default before a measurement, cached after embed-text measured it, override, no cache; a damaged file is not used")
    func measuredChoices() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let cache: [String: String?] = ["ADANEG_CACHE_DIR": s.path("cache"), "ADANEG_WEIGHT_CACHE": nil, TextTransformer.chunkRowsVariable: nil]
        func chunk(_ env: [String: String?]) throws -> [Report.Choice] {
            try doctor(cache.merging(env) { $1 }, seconds: "0").0.choices.filter { $0.name == "text chunk rows" }
        }
        let before = try chunk([:])
        #expect(before.map(\.source) == ["default"] && before[0].value == TextTransformer.defaultChunkRows && before[0].detail.contains("not measured"))
        try "a photo of a cat\nThe nice tench.\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        let embed = try CLI.run(["embed-text", "--model", model, "--texts", s.path("texts.txt"), "--out", s.path("t.npy"), "--precision", "fp32"],
                                environment: Self.clean.merging(cache) { $1 })
        #expect(embed.status == 0, "\(embed.stderr)")
        #expect(embed.stderr.contains("text chunk rows"), "the first run says it measured: \(embed.stderr)")
        let after = try chunk([:])
        let measured = try #require(after.first)
        #expect(after.count == 1 && measured.source == "cached" && measured.detail.contains("f32"))
        let m = try #require(measured.measurement)
        #expect(m.candidates == TextTransformer.chunkCandidates && m.best == measured.value && m.seconds.count == m.candidates.count)
        let again = try CLI.run(["embed-text", "--model", model, "--texts", s.path("texts.txt"), "--out", s.path("t2.npy"), "--precision", "fp32"],
                                environment: Self.clean.merging(cache) { $1 })
        #expect(again.status == 0 && !again.stderr.contains("text chunk rows"), "measured once only: \(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("t.npy"))) == Data(contentsOf: URL(fileURLWithPath: s.path("t2.npy"))))
        #expect(try chunk([TextTransformer.chunkRowsVariable: "4096"]).map(\.source) == ["override"])
        #expect(try chunk(["ADANEG_WEIGHT_CACHE": "off"]).map(\.source) == ["default"])
        // A damaged file: doctor says it is not used; the next run measures again and replaces it.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: s.path("cache/weights")).first { $0.hasPrefix("cpu-choices-") && $0.hasSuffix(".json") })
        try "{\"format\": 1, \"mach".write(toFile: s.path("cache/weights/\(file)"), atomically: true, encoding: .utf8)
        let damaged = try chunk([:])
        #expect(damaged.map(\.source) == ["default"] && damaged[0].detail.contains("not used"))
        let rerun = try CLI.run(["embed-text", "--model", model, "--texts", s.path("texts.txt"), "--out", s.path("t3.npy"), "--precision", "fp32"],
                                environment: Self.clean.merging(cache) { $1 })
        #expect(rerun.status == 0 && rerun.stderr.contains("measured again"), "\(rerun.stderr)")
        #expect(try chunk([:]).map(\.source) == ["cached"])
        let text = try CLI.run(["doctor", "--seconds", "0"], environment: Self.clean.merging(cache) { $1 })
        #expect(text.stdout.contains("choice:     text chunk rows") && text.stdout.contains("fixed:      image batch size"))
    }

    @Test("a generic kernel on an AVX2/AVX-512 CPU is replaced by re-executing, and said so once")
    func reexecution() throws {
        let (report, result) = try doctor(["ADANEG_BLAS_ASSUME_LOADED_CORE": "Prescott"], seconds: "0")
        guard let best = BLASKernelPolicy.bestCore(for: .current) else {
            #expect(!result.stderr.contains("re-execut"))
            return
        }
        #expect(result.stderr.contains("OpenBLAS chose its generic Prescott kernel"), "\(result.stderr)")
        #expect(report.blas.kernel == best.core, "OpenBLAS runs \(report.blas.kernel) after the re-execution")
        #expect(report.blas.kernelChoice.contains("had chosen Prescott"))
    }

    @Test("a user's OPENBLAS_CORETYPE is respected, with a warning when it is slower than the CPU allows")
    func userSetting() throws {
        let (report, result) = try doctor([BLASKernelPolicy.coreTypeVariable: "Prescott"], seconds: "0")
        #expect(report.blas.kernel == "Prescott")
        if BLASKernelPolicy.bestCore(for: .current) != nil {
            #expect(result.stderr.contains("warning:") && result.stderr.contains("set by the user"))
        }
    }

    @Test("--precision: an unknown value lists the choices; bf16 follows the CPU; features stay within cosine 0.999 of fp32")
    func precisionFlag() throws {
        let s = try Scratch()
        let dir = try TextCommandsTests.model(in: s)
        try "a photo of a cat\nThe nice tench.\nblue\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        let bad = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("x.npy"), "--precision", "fp16"])
        #expect(bad.status != 0 && bad.stderr.contains("fp32, bf16, auto"), "\(bad.stderr)")
        #expect(!s.exists("x.npy"))

        let fp32 = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("fp32.npy")])
        #expect(fp32.status == 0, "\(fp32.stderr)")
        let bf16 = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("bf16.npy"), "--precision", "bf16"])
        if CPUFeatures.current.hasNativeBF16 {
            #expect(bf16.status == 0, "\(bf16.stderr)")
            let a = try NPYFile.readMatrix(s.path("fp32.npy")), b = try NPYFile.readMatrix(s.path("bf16.npy"))
            for r in 0..<a.rows {
                let c = cosine(Array(a.values[r * a.cols ..< (r + 1) * a.cols]), Array(b.values[r * b.cols ..< (r + 1) * b.cols]))
                #expect(c >= 0.999, "row \(r): cosine \(c)")
            }
            #expect(a.values != b.values)
        } else {
            #expect(bf16.status == 2 && bf16.stderr.contains("AVX512-BF16"), "\(bf16.stderr)")
            let auto = try CLI.run(["embed-text", "--model", dir, "--texts", s.path("texts.txt"), "--out", s.path("auto.npy"), "--precision", "auto"])
            #expect(auto.status == 0 && auto.stderr.contains("running fp32"))
        }
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
        return dot / (na.squareRoot() * nb.squareRoot())
    }
}
