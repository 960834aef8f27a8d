import ArgumentParser
import CUDABackend

/// `--device cpu|cuda|cuda:N|auto`, shared by the commands that run a CLIP tower and by `run`,
/// which passes it on to its workers. Parsed in `run()`, not `validate()`, so a bad spec exits 2
/// (a user error with its reason) like every other refused input, naming the flag.
struct DeviceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Where the CLIP tower runs: cpu, cuda (GPU 0), cuda:N, or auto (the GPU when one is usable, else the CPU with a note saying why).",
                               valueName: "cpu|cuda|cuda:N|auto"))
    var device: String = "cpu"

    /// Images per forward pass that `--batch-size` accepts wherever it is given: a batch of
    /// 65,536 ViT-L/14 crops is already 39 GB of fp32 pixels.
    static let batchSizes = 1...65536

    /// `--batch-size` checked against `batchSizes` (nil: the command's own default).
    static func checkBatchSize(_ batchSize: Int?) throws {
        if let batchSize, !batchSizes.contains(batchSize) {
            throw CommandFailure("--batch-size must be in \(batchSizes.lowerBound)...\(batchSizes.upperBound) (got \(batchSize))")
        }
    }

    /// The parsed choice; a spec that is none of the four forms is a `CommandFailure`.
    func choice() throws -> DeviceChoice {
        do { return try DeviceChoice.parse(device) } catch { throw CommandFailure("--device: \(error)") }
    }

    /// The GPU to run on, or nil for the CPU. `cuda` without a usable GPU fails with what is
    /// missing; `auto` falls back to the CPU with one note on standard error.
    func open(lowPrecision: LowPrecision = .bf16) throws -> CUDADevice? {
        let choice = try choice()
        do {
            return try choice.open(lowPrecision: lowPrecision) { StandardError.write("note: \($0)\n") }
        } catch {
            throw CommandFailure("--device \(device): \(error)")
        }
    }

    /// For `run`: checks that the GPU its workers will open is there (libraries, driver, index)
    /// without creating a context in the coordinator's process, so `run --device cuda` on a
    /// machine without one exits 2 before anything starts. Returns the device to pass on to the
    /// workers: nil for the CPU (`auto` without a usable GPU, with a note saying why).
    func preflight() throws -> DeviceChoice? {
        let choice = try choice()
        let index: Int
        switch choice {
        case .cpu: return nil
        case let .cuda(n): index = n
        case .auto: index = 0
        }
        do {
            let runtime = try CUDARuntime.shared(search: LibrarySearch())
            guard index < runtime.deviceCount else { throw GPUError.deviceOutOfRange(index: index, count: runtime.deviceCount) }
        } catch {
            guard choice == .auto else { throw CommandFailure("--device \(device): \(error)") }
            StandardError.write("note: device auto: no usable GPU (\(error)); running on the CPU\n")
            return nil
        }
        return .cuda(index: index)
    }
}

extension PrecisionOptions {
    /// The 16-bit format of the products on a GPU: `--precision` unset, bf16 or auto give bf16,
    /// fp16 gives fp16; fp32 is refused (the GPU path has no fp32 products, and a silent
    /// downgrade would hand back features of another precision than asked for).
    func gpuPrecision() throws -> LowPrecision {
        switch precision?.lowercased() {
        case nil, "bf16", "auto": return .bf16
        case "fp16": return .fp16
        default:
            throw CommandFailure("--precision \(precision ?? "") is not available on the GPU: it runs bf16 (the default) or fp16; use --device cpu for fp32")
        }
    }
}

extension DeviceOptions {
    /// For `embed-text` and `mine-negatives`, whose text tower has no GPU version yet: `cuda`
    /// still checks the GPU (exit 2 without one, as everywhere), and a usable GPU gets a note
    /// that the tower runs on the CPU, so nobody believes the text features came from the GPU.
    func textTowerNote() throws {
        guard try preflight() != nil else { return }
        StandardError.write("note: --device \(device): the text tower runs on the CPU (its GPU version is not built yet, docs/gpu.md)\n")
    }
}
