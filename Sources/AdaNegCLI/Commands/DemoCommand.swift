import AdaNeg
import ArgumentParser
import Foundation
import JobSpec
import JobStore
import NPY
import Platform

/// `adaneg demo`: the embedded default, end to end on data the project generates.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate synthetic CLIP-like data and run the demo job end to end (coordinator + 2 local workers).",
        discussion: """
        The data are SYNTHETIC: C ID classes and M negative labels on the unit sphere, image \
        features around their class with a CLIP-like modality gap, and three OOD sets (covered \
        by negative labels, uncovered by any label, near-ID). The job runs like any other: \
        planned into units on a SQLite coordinator, scored by worker processes that share the \
        memory bank. The numbers show how the methods behave; they are not ImageNet results.
        """
    )

    @Option(help: "Folder for the data, the job specs and the database: created if missing; an empty folder or a previous demo's is replaced, any other folder refused.") var dir: String = "demo-data"
    @Option(help: "Seed for the data and the stream order.") var seed: UInt64 = 0
    @OptionGroup var workerCount: WorkerCountOptions
    @OptionGroup var banks: BankPolicyOptions
    @OptionGroup var rowsOptions: WorkerRowsOptions
    @Option(help: "C, ID classes.") var classes: Int = SyntheticBenchmark.Shape.demo.classes
    @Option(help: "M, negative labels.") var negatives: Int = SyntheticBenchmark.Shape.demo.negatives
    @Option(help: "D, feature dimension.") var dim: Int = SyntheticBenchmark.Shape.demo.dimension
    @Option(help: "ID samples.") var idSamples: Int = SyntheticBenchmark.Shape.demo.idSamples
    @Option(help: "Samples per OOD set.") var oodSamples: Int = SyntheticBenchmark.Shape.demo.oodSamples

    func run() async throws {
        let workers = try workerCount.count(default: 2)
        let shape = SyntheticBenchmark.Shape(classes: classes, negatives: negatives, dimension: dim,
                                             idSamples: idSamples, oodSamples: oodSamples)
        guard classes > 0, negatives >= 5, dim >= 8, idSamples > 0, oodSamples > 0 else {
            throw CommandFailure("demo sizes must be positive (at least 5 negatives, 8 dimensions)")
        }
        try SyntheticSize.check(shape)
        print("adaneg demo — SYNTHETIC data (not real images): C = \(classes) ID classes, M = \(negatives) negative labels, D = \(dim), \(idSamples) ID samples, \(oodSamples) per OOD set, seed \(seed)")
        // The folder first: one the demo did not write is refused before anything in it is touched.
        let output = try OutputTarget.checkedFolder(dir, flag: "--dir", writer: DemoData.writer, extraFiles: DemoData.databaseFiles)
        // A demo still running on this folder's database is refused before the folder is
        // replaced under it (its lock is held for this whole process, both runs included).
        let running: DatabaseLock?
        do {
            let previous = "\(dir)/\(DemoData.database)"
            running = FileManager.default.fileExists(atPath: previous) ? try DatabaseLock(databasePath: previous) : nil
        } catch {
            throw CommandFailure(error.description)
        }
        defer { withExtendedLifetime(running) {} }
        // A new folder, an empty one or a previous demo's (its manifest.json names `adaneg demo`):
        // the data and the specs are built beside it and renamed into place, so the previous
        // demo's database goes with its folder and nothing else is ever removed.
        try output.commitFolder { folder in
            try DemoData.write(SyntheticBenchmark(shape: shape, seed: seed), to: folder)
            for proxy in ProxyKind.allCases {
                let path = "\(folder)/demo-\(proxy.rawValue).yaml"
                try failing(path) { try DemoData.spec(proxy: proxy, negatives: negatives, seed: seed).write(toFile: path, atomically: true, encoding: .utf8) }
            }
        }

        let database = "\(dir)/\(DemoData.database)"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var runs = [ProxyKind: EmbeddedRun.Outcome]()
        for proxy in ProxyKind.allCases {
            let spec = try JobLoading.load("\(dir)/demo-\(proxy.rawValue).yaml")
            StandardError.write("running job \(spec.name) (\(proxy.rawValue)-adaptive proxies) with \(Plural.count(workers, "worker"))\n")
            var run = EmbeddedRun(spec: spec, databasePath: database, workers: workers, threadsPerWorker: max(1, cores / workers))
            run.banks = try banks.policy()
            run.rows = try rowsOptions.source()
            runs[proxy] = try await run.run()
        }
        guard let task = runs[.task], let sample = runs[.sample] else { return }
        let sets = task.report.sets.map(\.name)
        let methods = ["MCM", "NegLabel", "AdaNeg (task)", "AdaNeg (sample)"]
        func cell(_ method: String, _ set: String) -> OODMetrics? {
            if set == "Average" { return OODMetrics.mean(sets.compactMap { cell(method, $0) }) }
            let key = method == "MCM" ? "mcm" : method == "NegLabel" ? "neglabel" : "adaneg"
            let run = method == "AdaNeg (sample)" ? sample : task
            return run.report.sets.first { $0.name == set }?.metrics[key]
        }
        print()
        print(MetricsTable.paper(sets: sets + ["Average"], methods: methods, cell: cell), terminator: "")
        print("\nFPR95 in % (OpenOOD convention: ID flagged OOD at 95% OOD recall), AUROC in %.")
        let acc = sets.compactMap { cell("AdaNeg (task)", $0)?.accuracy }
        print(String(format: "ID accuracy (AdaNeg task proxy, mean over sets): %.2f%%", 100 * acc.reduce(0, +) / Double(max(acc.count, 1))))
        print("Scored \(Plural.count(task.status.results, "sample")) per proxy in " + String(format: "%.1f s + %.1f s", task.seconds, sample.seconds)
            + " with \(Plural.count(workers, "worker")). These are synthetic data.")
        // Failed units: exit 1, as `run` (the tables above leave their samples out).
        for outcome in [task, sample] {
            if let failure = RunSummary.failure(outcome) { throw failure }
        }
    }
}

/// The demo's files, in the layout `jobs/demo.yaml` expects.
enum DemoData {
    /// The name in the manifest of the folder `demo --dir` writes.
    static let writer = "adaneg demo"
    static let database = "demo.sqlite"
    /// The database and its SQLite side files and lock, which the runs add to the folder.
    static let databaseFiles = ["", "-wal", "-shm", "-journal", ".lock"].map { database + $0 }

    static func write(_ data: SyntheticBenchmark, to dir: String) throws {
        try failing(dir) {
            try NPYFile.writeMatrix(data.text.storage, rows: data.text.rows, cols: data.text.cols, to: "\(dir)/text.npy")
            try NPYFile.writeMatrix(data.idFeatures.storage, rows: data.idFeatures.rows, cols: data.idFeatures.cols, to: "\(dir)/id.npy")
            try NPYFile.write(.int64(data.idLabels, shape: [data.idLabels.count]), to: "\(dir)/id-labels.npy")
            for (kind, features) in data.oodSets {
                try NPYFile.writeMatrix(features.storage, rows: features.rows, cols: features.cols, to: "\(dir)/ood-\(kind.rawValue).npy")
            }
        }
    }

    static func spec(proxy: ProxyKind, negatives: Int, seed: UInt64) -> String {
        """
        # Written by `adaneg demo`: SYNTHETIC CLIP-like features (see jobs/demo.yaml).
        name: demo-\(proxy.rawValue)
        id:
          features: id.npy
          labels: id-labels.npy
        ood:
          - {name: covered, group: far, features: ood-covered.npy}
          - {name: uncovered, group: far, features: ood-uncovered.npy}
          - {name: near-id, group: near, features: ood-near-id.npy}
        negatives:
          count: \(negatives)
          text_features: text.npy
          permutation: seed
        scoring:
          batch_size: 256
          proxy: \(proxy.rawValue)
        seed: \(seed)
        unit_batches: 2
        sync_every: 1

        """
    }
}
