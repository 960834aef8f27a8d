import ArgumentParser
import CLIP
import CUDABackend
import Foundation
import Platform
import Tensor

/// `adaneg doctor`: what this machine offers adaneg, for bug reports and a worker's first log line.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show the CPU features, BLAS kernel, precisions, measured GEMM speed, free memory and the GPUs.",
        discussion: """
        The GEMM figures multiply two 1024×1024 matrices (fp32 through OpenBLAS, bf16 through \
        oneDNN with fp32 accumulation) for --seconds per precision with --threads threads. The GPU \
        section lists the CUDA devices with the driver, cuBLAS and NVRTC versions, or says why there \
        is none (which library was not found, and where it was looked for).
        """
    )

    @Flag(help: "Print the report as JSON.")
    var json = false
    @Option(help: "Seconds of GEMM measurement per precision (0 skips it; at most 10).")
    var seconds: Double = 1
    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    /// Out-of-range numbers are a user error (exit 2), naming the flag and the value.
    func checkRanges() throws {
        guard seconds.isFinite, seconds >= 0, seconds <= 10 else {
            throw CommandFailure("--seconds must be a number of seconds in 0...10 (got \(seconds))")
        }
        if let threads, threads < 1 || threads > 4096 { throw CommandFailure("--threads must be in 1...4096 (got \(threads))") }
    }

    func run() throws {
        try checkRanges()
        if let threads {
            BLAS.setThreads(threads)
            NeuralKernels.activeProcessorCount = threads
        }
        let report = DoctorReport.gather(gemmSeconds: seconds)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(report)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}

/// The facts `doctor` prints; `Codable` for `--json`.
struct DoctorReport: Codable {
    struct CPU: Codable {
        var vendor: String
        var model: String
        var cores: Int
        var features: [String]
    }
    struct BLASInfo: Codable {
        var library: String
        var kernel: String
        var threads: Int
        var kernelChoice: String
    }
    struct PrecisionInfo: Codable {
        var name: String
        var available: Bool
        var library: String
        var note: String?
        var gemmGflops: Double?
    }
    struct MemoryFigures: Codable {
        var totalBytes: UInt64
        var availableBytes: UInt64
    }

    var cpu: CPU
    var blas: BLASInfo
    var onednn: String
    var precisions: [PrecisionInfo]
    var autoPrecision: String
    /// Why `auto` means what it does on this CPU (`CPUFeatures.autoBF16`).
    var autoPrecisionReason: String
    /// How the text tower batches prompts here, per precision (`TextTransformer`).
    var textTower: [String: String]
    /// What runs the towers here: each precision's product kernel, packed weights, the pool.
    var kernels: KernelChoices
    /// GFLOP/s of one ViT-B/16 text-tower layer's products over 2,048 rows, per precision
    /// (`TextLayerProbe`: the fused, packed oneDNN calls NegMining's text tower runs); empty with `--seconds 0`.
    var textLayerGflops: [String: Double]
    /// Speed choices measured per machine (they change no bit of any output), each with where
    /// its value comes from (measured, cached, override, default) and its measurement.
    var choices: [MeasuredChoice]
    /// Choices that are not measured, and why (they change outputs, or are not shown bit-neutral).
    var fixedChoices: [String: String]
    var memory: MemoryFigures?
    /// The GPU section: devices and CUDA library versions, or why the GPU path is unavailable.
    var gpu: GPUSurvey?

    static func gather(gemmSeconds: Double) -> DoctorReport {
        let features = CPUFeatures.current
        let cores = NeuralKernels.activeProcessorCount
        var precisions: [PrecisionInfo] = []
        let fp32Rate = gemmSeconds > 0 ? GEMMProbe.gflops(.fp32, seconds: gemmSeconds) : nil
        precisions.append(PrecisionInfo(name: "fp32", available: true, library: "OpenBLAS \(BLAS.coreName)", note: nil, gemmGflops: fp32Rate))
        var bf16Note: String?
        var bf16Available = features.hasNativeBF16
        if !bf16Available {
            bf16Note = "no native bf16 (needs AVX512-BF16 or AMX-BF16)"
        } else if let reason = OneDNNMatmul.shared.unavailableReason() {
            bf16Available = false
            bf16Note = reason
        }
        let bf16Rate = bf16Available && gemmSeconds > 0 ? GEMMProbe.gflops(.bf16, seconds: gemmSeconds) : nil
        if bf16Available { bf16Note = OneDNNMatmul.shared.lastImplementation.map { "kernel \($0)" } }
        precisions.append(PrecisionInfo(name: "bf16", available: bf16Available, library: "oneDNN \(OneDNNMatmul.version)",
                                        note: bf16Note, gemmGflops: bf16Rate))
        let auto = (try? PrecisionChoice.auto.resolve(on: features).precision) ?? .fp32
        var textLayer: [String: Double] = [:]
        if gemmSeconds > 0 {
            for p in precisions where p.available {
                if let precision = Precision(rawValue: p.name), let rate = TextLayerProbe.gflops(precision, seconds: gemmSeconds) { textLayer[p.name] = rate }
            }
        }
        let choices = TextTransformer.chunkRowsSurvey(folder: ConvertedWeights.configuredRoot())
        let trie = "token trie, chunk size \(choices.map { String($0.value) }.uniqued().joined(separator: "/")) nodes (\(choices.first?.source.rawValue ?? "default"); shared prompt prefixes computed once; the chunk size changes no bit of a feature)"
        var textTower = ["fp32": FP32Products.current == .oneDNN ? trie : "prompts of similar length padded together, 128 per batch (OpenBLAS)"]
        if bf16Available { textTower["bf16"] = trie }
        return DoctorReport(
            cpu: CPU(vendor: features.vendor, model: features.brand, cores: cores, features: features.names),
            blas: BLASInfo(library: BLAS.configuration, kernel: BLAS.coreName, threads: BLAS.threads, kernelChoice: BLASKernelCheck.summary),
            onednn: OneDNNMatmul.version,
            precisions: precisions,
            autoPrecision: bf16Available ? auto.rawValue : Precision.fp32.rawValue,
            autoPrecisionReason: bf16Available || !features.hasNativeBF16 ? features.autoBF16.reason : bf16Note ?? "bf16 unavailable",
            textTower: textTower,
            kernels: KernelChoices.current(),
            textLayerGflops: textLayer,
            choices: choices,
            fixedChoices: notMeasuredChoices,
            memory: MemoryInfo.current().map { MemoryFigures(totalBytes: $0.totalBytes, availableBytes: $0.availableBytes) },
            gpu: GPUSurvey.probe()
        )
    }

    var text: String {
        func gib(_ bytes: UInt64) -> String { String(format: "%.1f GiB", Double(bytes) / 1_073_741_824) }
        var lines: [String] = []
        lines.append("cpu:        \(cpu.model.isEmpty ? "unknown model" : cpu.model) (\(cpu.vendor)), \(cpu.cores) cores")
        lines.append("features:   \(cpu.features.isEmpty ? "none of AVX2/AVX-512/BF16/AMX" : cpu.features.joined(separator: " "))")
        lines.append("blas:       \(blas.library)")
        lines.append("kernel:     \(blas.kernelChoice), \(blas.threads) threads")
        for p in precisions {
            var line = "precision:  \(p.name.padding(toLength: 5, withPad: " ", startingAt: 0)) \(p.available ? "yes" : "no ") \(p.library)"
            if let rate = p.gemmGflops { line += String(format: ", GEMM %.1f GFLOP/s", rate) }
            if let note = p.note { line += " (\(note))" }
            lines.append(line)
        }
        lines.append("auto:       \(autoPrecision) (\(autoPrecisionReason))")
        for (name, how) in textTower.sorted(by: { $0.key > $1.key }) { lines.append("text \(name):  \(how)") }
        if !textLayerGflops.isEmpty {
            let rates = textLayerGflops.sorted { $0.key > $1.key }.map { "\($0.key) " + String(format: "%.1f GFLOP/s", $0.value) }.joined(separator: ", ")
            lines.append("text layer: \(rates) (one ViT-B/16 text layer's products, 2,048 rows, fused and packed as the tower runs them)")
        }
        lines += kernels.lines
        for choice in choices { lines.append("choice:     \(choice.line)") }
        for (name, why) in fixedChoices.sorted(by: { $0.key < $1.key }) { lines.append("fixed:      \(name): \(why)") }
        if let memory { lines.append("memory:     \(gib(memory.availableBytes)) available of \(gib(memory.totalBytes))") }
        if let gpu { lines += gpu.lines }
        return lines.joined(separator: "\n")
    }
}

/// The choices that are not measured per machine, and why: each one changes outputs' bits (or
/// is not shown not to), and a job's results must not depend on how loaded a machine was.
let notMeasuredChoices: [String: String] = [
    "precision": "rule (auto above): bf16 and fp32 differ in the last bits; a job's precision is fixed when it is planned",
    "image batch size": "32 or --batch-size: a batch and its images alone agree to cosine 0.999999, not bit for bit",
    "thread pool": "openmp (ADANEG_CPU_POOL=dispatch to compare): the features came out bit-identical under both pools where checked, but the two ran within noise of each other (0.96-1.07x), so a measurement would only pick noise",
    "fp32 products": "oneDNN where it has an fp32 matmul, else OpenBLAS (ADANEG_FP32_PRODUCTS): the libraries sum in different orders",
]

private extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// A timed square GEMM, the figure `doctor` reports per precision.
enum GEMMProbe {
    static let size = 1024

    static func gflops(_ precision: Precision, seconds: Double) -> Double {
        let n = size
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let values = (0..<(n * n)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
        let weights = WeightMatrix(rows: n, cols: n, values: values, precision: precision)
        var out = [Float](repeating: 0, count: n * n)
        var runs = 0
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        values.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { c in
                guard let A = a.baseAddress, let C = c.baseAddress else { return }
                WeightProducts.multiply(A, lda: n, rows: n, weights, into: C, ldc: n) // warm-up (JIT, caches)
                let start = clock.now
                repeat {
                    WeightProducts.multiply(A, lda: n, rows: n, weights, into: C, ldc: n)
                    runs += 1
                    elapsed = clock.now - start
                } while elapsed < .milliseconds(Int64(seconds * 1000))
            }
        }
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return secs > 0 ? 2 * Double(n) * Double(n) * Double(n) * Double(runs) / secs / 1e9 : 0
    }
}
