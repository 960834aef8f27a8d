import ArgumentParser
import Platform

/// `--precision fp32|bf16|auto`, shared by the commands that run a CLIP tower.
struct PrecisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Matrix-product precision: fp32, bf16 (AVX512-BF16 or AMX CPUs), or auto (bf16 where the CPU has native bf16, else fp32).",
                               valueName: "fp32|bf16|auto"))
    var precision: String = PrecisionChoice.fp32.rawValue

    func validate() throws {
        do { _ = try PrecisionChoice.parse(precision) } catch { throw ValidationError(error.description) }
    }

    /// The precision to run in on this machine; a note on standard error when `auto` fell back.
    func resolve() throws -> Precision {
        do {
            let (precision, note) = try PrecisionChoice.parse(self.precision).resolve(on: .current)
            if let note { StandardError.write("note: \(note)\n") }
            return precision
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
