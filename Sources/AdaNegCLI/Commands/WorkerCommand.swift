import ArgumentParser
import Coordinator
import CUDABackend
import Foundation
import JobClient
import JobPlan
import JobProtocol
import Logging
import ModelHub
import Platform
import ServiceLifecycle
import Tensor
import Worker

/// `adaneg worker`: one worker process.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Lease work units from a coordinator, score them, sync the memory bank, until no work is left.",
        discussion: """
        SIGTERM or Ctrl-C stops it at once (also while it waits for an unreachable coordinator), \
        releasing the current unit when the coordinator can be reached; another worker picks it \
        up. A coordinator that cannot be reached is retried with exponential backoff (up to 30 s \
        between tries, with jitter), each retry logged, for --patience seconds.
        """
    )

    @OptionGroup var connection: CoordinatorOptions
    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var rowsOptions: WorkerRowsOptions
    @Option(name: .customLong("batch-size"), help: "Images per forward pass on the GPU (default: what fits its memory; the CPU embeds 32 at a time).")
    var batchSize: Int?
    @Option(help: "BLAS threads for this worker (0: OpenBLAS' default).") var threads: Int = 0
    @Option(help: "Worker id (default: host-pid): 1 to 253 ASCII letters, digits and . _ - : @ +.") var id: String?
    @Flag(help: "Keep waiting for new work instead of exiting when none is left.") var forever = false
    @Option(help: ArgumentHelp("Precision this worker expects: fp32, bf16 or auto (follow each job). A job's own precision, fixed when it was planned, always wins, so one job's features never mix precisions; a different value here is reported.",
                               valueName: "fp32|bf16|auto"))
    var precision: String = PrecisionChoice.auto.rawValue
    @Option(help: ArgumentHelp("Benchmarks: sleep this many milliseconds per batch (a no-op embedder).", visibility: .hidden))
    var simulateBatchMs: Double = 0
    @Option(help: "Seconds to keep retrying an unreachable coordinator before exiting (0: forever).")
    var patience: Double = 3600
    @Option(help: ArgumentHelp("Testing: abort when leasing this unit, as a trapping worker would.", visibility: .hidden))
    var simulateCrashUnit: Int64?
    @Option(name: .customLong("artefact-cache"),
            help: ArgumentHelp("Folder for the files fetched from the coordinator (text features, permutations, model files a job names that are not on this machine, or differ here). Default: $ADANEG_CACHE_DIR/artefacts, else $XDG_CACHE_HOME/adaneg/artefacts, else ~/.cache/adaneg/artefacts; 'off' reads every path as the job names it (a shared file system).",
                               valueName: "folder|off"))
    var artefactCache: String?
    @Option(name: .customLong("parent-pid"),
            help: ArgumentHelp("Local workers of run and demo: exit as soon as this process (the parent) is gone.", visibility: .hidden))
    var parentPID: Int32?
    @Option(name: .customLong("max-pixels"),
            help: ArgumentHelp("Refuse images with more pixels than this on this machine (each one a per-sample error), besides the job's own max_pixels (default 89478485).", valueName: "N"))
    var maxPixels: Int?

    /// Out-of-range numbers are a user error (exit 2), checked before anything starts.
    func validate() throws {
        if connection.coordinator == nil { throw ValidationError("Missing expected argument '--coordinator <coordinator>'") }
    }

    func checkRanges() throws {
        if !(patience.isFinite && patience >= 0) { throw CommandFailure("--patience must be a number of seconds ≥ 0 (got \(patience))") }
        try DeviceOptions.checkBatchSize(batchSize)
        if !(0...1024).contains(threads) { throw CommandFailure("--threads must be in 0...1024 (got \(threads))") }
        if let id, let problem = WorkerIdentity.problem(id, field: "--id") { throw CommandFailure(problem) }
        try SharedFlagRanges.checkSimulatedBatch(simulateBatchMs)
        try checkArtefactCache()
        try PixelLimit.check(maxPixels, flag: "--max-pixels")
    }

    /// A folder given with `--artefact-cache` is made usable before any unit is leased: a
    /// worker that could not store a fetched file would fail units for a fault of its own
    /// machine. (The default folder is created when first needed, so a read-only home matters
    /// only to jobs that fetch.)
    func checkArtefactCache() throws {
        guard let given = artefactCache, given != "off" else { return }
        if given.isEmpty { throw CommandFailure("--artefact-cache is empty: give a folder, or 'off' to read every path as the job names it") }
        let folder = URL(fileURLWithPath: given).path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("--artefact-cache \(folder): cannot create the folder (\(error.localizedDescription))")
        }
        if !FileManager.default.isWritableFile(atPath: folder) {
            throw CommandFailure("--artefact-cache \(folder): the folder is not writable")
        }
    }

    /// A timestamped line on standard error: retries are logged as they happen, so an
    /// operator sees when and why a worker waits and when it tries next.
    static func log(_ message: String) {
        let time = ISO8601DateFormatter().string(from: Date())
        // Messages quote replies and paths: one escaped line each.
        StandardError.write("\(time) worker: \(TerminalText.escaped(message))\n")
    }

    /// `--artefact-cache`, or the default folder; nil for `off`.
    var artefactCacheFolder: URL? {
        switch artefactCache {
        case nil: CacheFolder.base().appendingPathComponent("artefacts")
        case "off"?: nil
        case let folder?: URL(fileURLWithPath: folder)
        }
    }

    func run() async throws {
        if let parentPID {
            // A local worker of `run` or `demo`: it must not outlive a killed parent.
            ParentWatch.exitWhenOrphaned(parent: parentPID) {
                Self.log("the process that started this worker (pid \(parentPID)) is gone: exiting")
            }
        }
        try checkRanges()
        let url = try connection.requiredURL()
        let expected: PrecisionChoice
        do { expected = try PrecisionChoice.parse(precision) } catch { throw CommandFailure(error.description) }
        if expected == .bf16 && !CPUFeatures.current.hasNativeBF16 {
            throw CommandFailure(PrecisionChoice.ResolutionError.bf16Unsupported(cpu: CPUFeatures.current.brand).description)
        }
        BLAS.setThreads(threads)
        if threads > 0 { NeuralKernels.activeProcessorCount = threads }
        // The coordinator refuses a host name outside `WorkerIdentity`; this machine's is
        // sent in the allowed characters.
        let host = WorkerIdentity.sanitized(ProcessInfo.processInfo.hostName, fallback: "unknown-host")
        let workerID = id ?? "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
        let client = CoordinatorClient(base: url, token: try connection.token(), retryWindow: patience == 0 ? .infinity : patience,
                                       caFile: try connection.checkedCAFile(), onRetry: { event in Self.log(event.message) })
        var options = WorkerOptions(id: workerID, host: host, forever: forever, simulatedBatchSeconds: simulateBatchMs / 1000)
        options.crashOnUnit = simulateCrashUnit
        options.maxPixels = maxPixels
        options.rows = try rowsOptions.source()
        let maxPixels = self.maxPixels
        options.expectedPrecision = switch expected {
        case .auto: nil
        case .fp32: .fp32
        case .bf16: .bf16
        }
        let gpu = try deviceOptions.open()
        if let gpu {
            Self.log("device \(deviceOptions.device): \(gpu.properties.name) (compute capability \(gpu.properties.computeCapability)); jobs planned in bf16 embed on it, others on the CPU")
        }
        let batchSize = self.batchSize
        options.artefactCache = artefactCacheFolder
        options.resolveModelFolder = { planned in
            // A job pinned to a Hub snapshot names the submitter's cache; this machine loads the
            // same commit from its own (fetched if needed). The plan's checksum is checked on load.
            guard PlannedModelFolder.snapshotOrigin(planned) != nil else { return nil }
            let local = try PlannedModelFolder.local(for: planned)
            Self.log("model \(planned) is not on this machine: loading the same commit from \(local)")
            return local
        }
        options.makeEmbedder = { model in
            let limit = model.pixelLimit(worker: maxPixels)
            guard let gpu else { return try CLIPImageEmbedder(source: model, maxPixels: limit) }
            guard model.effectivePrecision == .bf16 else {
                Self.log("job planned in \(model.effectivePrecision.rawValue): embedding on the CPU (the GPU runs bf16; plan the job with precision bf16 to use it)")
                return try CLIPImageEmbedder(source: model, maxPixels: limit)
            }
            let embedder = try GPUImageEmbedder(source: model, device: gpu, batchSize: batchSize, maxPixels: limit)
            embedder.log = { Self.log($0) }
            return embedder
        }
        let worker = Worker(client: client, options: options)
        let logger = Logger(label: "adaneg.worker")
        let cpu = CPUFeatures.current
        logger.info("worker \(workerID): \(cpu.brand.isEmpty ? "unknown CPU" : cpu.brand), \(BLASKernelCheck.summary), \(BLAS.threads) BLAS threads, native bf16 \(cpu.hasNativeBF16 ? "yes" : "no"), expects precision \(expected)")
        let group = ServiceGroup(configuration: .init(services: [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            throw CommandFailure("worker \(workerID): \(error)")
        }
        let report = await worker.report
        StandardError.write("worker \(workerID): \(Plural.count(report.units, "unit")), \(Plural.count(report.samples, "sample")) "
            + "(\(Plural.count(report.embedded, "image")) embedded, \(Plural.count(report.sampleErrors, "sample error"))), "
            + (report.sweepUnits > 0 ? "\(Plural.count(report.sweepUnits, "sweep unit")) (\(Plural.count(report.sweepPointTasks, "point-task"))), " : "")
            + String(format: "%.1f%% of busy time waiting on the coordinator\n", 100 * report.waitShare))
    }
}
