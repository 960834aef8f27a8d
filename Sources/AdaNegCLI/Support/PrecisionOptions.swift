import ArgumentParser
import Platform

/// `--precision fp32|bf16|fp16|auto`, shared by the commands that run a CLIP tower. Unset, the
/// CPU runs fp32 and a GPU (`--device cuda`) bf16; fp16 exists only on the GPU.
struct PrecisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Matrix-product precision: fp32, bf16 (AVX512-BF16 or AMX CPUs), or auto (bf16 where the CPU multiplies bf16 natively and faster than fp32, else fp32; see doctor). Default: fp32 on the CPU, bf16 on a GPU, where fp16 is also accepted and fp32 is not.",
                               valueName: "fp32|bf16|fp16|auto"))
    var precision: String?

    func validate() throws {
        guard let precision, precision.lowercased() != "fp16" else { return }
        do { _ = try PrecisionChoice.parse(precision) } catch { throw CommandFailure("--precision: \(error.description)") }
    }

    /// The precision to run in on this machine's CPU; a note on standard error when `auto` fell back.
    func resolve() throws -> Precision {
        if precision?.lowercased() == "fp16" { throw CommandFailure("--precision fp16 runs only on a GPU (--device cuda with embed-images); on the CPU choose one of fp32, bf16, auto") }
        do {
            let (precision, note) = try PrecisionChoice.parse(self.precision ?? PrecisionChoice.fp32.rawValue).resolve(on: .current)
            if let note { StandardError.write("note: \(note)\n") }
            return precision
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
