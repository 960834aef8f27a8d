import AdaNeg
import Foundation
import NPY
import Testing
@testable import JobSpec

@Suite("Example jobs in jobs/")
struct ExampleJobTests {
    let jobs = repositoryRoot + "/jobs"

    @Test("imagenet-1k.yaml: the paper's job, structure valid without its data")
    func imagenet() throws {
        let spec = try JobSpecLoader.load(path: jobs + "/imagenet-1k.yaml", checkFiles: false)
        #expect(spec.name == "imagenet-1k")
        #expect(spec.ood.map(\.name) == ["iNaturalist", "SUN", "Places", "Textures"])
        #expect(spec.ood.allSatisfy { $0.group == .far })
        #expect(spec.id.classes == jobs + "/imagenet-1k-classes.txt")
        #expect(spec.id.images == .list(repositoryRoot + "/data/benchmark_imglist/imagenet/test_imagenet_all.txt"))
        #expect(spec.ood[0].data.images == .list(repositoryRoot + "/data/benchmark_imglist/imagenet/test_inaturalist.txt"))
        #expect(spec.dataRoot == repositoryRoot + "/data/images_largescale")
        #expect(spec.negatives.count == 10000)
        #expect(spec.negatives.permutation == .file(repositoryRoot + "/data/official-negative-permutation-10000.npy"))
        var paper = ScoringParameters()
        paper.beta = 5.5
        #expect(spec.scoring == paper)
        #expect(spec.scoring.effectiveBeta == 5)
        #expect(spec.preprocessing == Preprocessing(resize: 256, crop: 224))
        #expect(spec.seed == 0 && spec.unitBatches == 8 && spec.syncEvery == 1 && spec.keepFeatures)
    }

    @Test("imagenet-1k.yaml with file checks: only the absent model and data are missing; classes and permutation check out")
    func imagenetFiles() throws {
        let path = jobs + "/imagenet-1k.yaml"
        do {
            let spec = try JobSpecLoader.load(path: path)
            // Someone has the data in place: fine too.
            #expect(spec.id.numClasses == 1000)
        } catch {
            let allowed: Set<String> = ["model", "data_root", "id.images", "ood[0].images", "ood[1].images", "ood[2].images", "ood[3].images"]
            #expect(Set(error.problems.map(\.path)).isSubset(of: allowed), "\(error)")
            #expect(error.file == path)
        }
    }

    @Test("features-example.yaml and demo.yaml parse (structure)")
    func featureJobs() throws {
        let features = try JobSpecLoader.load(path: jobs + "/features-example.yaml", checkFiles: false)
        #expect(features.model == nil && !features.hasImages)
        #expect(features.negatives.textFeatures == jobs + "/features-example/text.npy")
        #expect(features.id.labels == jobs + "/features-example/id-labels.npy")

        let demo = try JobSpecLoader.load(path: jobs + "/demo.yaml", checkFiles: false)
        #expect(demo.name == "demo")
        #expect(demo.ood.map(\.name) == ["covered", "uncovered", "near-id"])
        #expect(demo.negatives.count == SyntheticBenchmark.Shape.demo.negatives)
        #expect(demo.negatives.textFeatures == repositoryRoot + "/demo-data/text.npy")
        #expect(demo.scoring.batchSize == 256 && demo.scoring.proxy == .task)
        #expect(demo.negatives.permutation == .seed(demo.seed))
    }

    @Test("features-example.yaml validates fully once its files exist (shapes as `adaneg synthesize` writes them)")
    func featuresExampleWithFiles() throws {
        let dir = TempDir()
        let text = try String(contentsOfFile: jobs + "/features-example.yaml", encoding: .utf8)
        let c = 1000, m = 10000, d = 8
        try NPYFile.writeMatrix([Float](repeating: 0.1, count: (c + m) * d), rows: c + m, cols: d, to: dir.path + "/text.npy")
        try NPYFile.writeMatrix([Float](repeating: 0.1, count: 20 * d), rows: 20, cols: d, to: dir.path + "/id.npy")
        try NPYFile.write(.int64((0..<20).map { $0 * 37 % c }, shape: [20]), to: dir.path + "/id-labels.npy")
        for kind in SyntheticBenchmark.OODKind.allCases {
            try NPYFile.writeMatrix([Float](repeating: 0.1, count: 10 * d), rows: 10, cols: d, to: dir.path + "/ood-\(kind.rawValue).npy")
        }
        // Put the spec next to a features-example/ folder holding the files.
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/features-example", withDestinationPath: dir.path)
        let spec = try JobSpecLoader.parse(yaml: text, baseDirectory: dir.path)
        #expect(spec.id.numClasses == 1000)
    }

    @Test("demo.yaml validates fully once the demo data exist (the demo's shape)")
    func demoWithFiles() throws {
        let dir = TempDir()
        let shape = SyntheticBenchmark.Shape.demo
        let text = try String(contentsOfFile: jobs + "/demo.yaml", encoding: .utf8)
        let data = dir.mkdir("demo-data")
        let dim = shape.dimension
        let matrix = { (rows: Int, name: String) in
            try NPYFile.writeMatrix([Float](repeating: 0.1, count: rows * dim), rows: rows, cols: dim, to: data + "/" + name)
        }
        try matrix(shape.classes + shape.negatives, "text.npy")
        try matrix(shape.idSamples, "id.npy")
        try NPYFile.write(.int64((0..<shape.idSamples).map { $0 % shape.classes }, shape: [shape.idSamples]), to: data + "/id-labels.npy")
        for kind in SyntheticBenchmark.OODKind.allCases { try matrix(shape.oodSamples, "ood-\(kind.rawValue).npy") }
        let spec = try JobSpecLoader.parse(yaml: text, baseDirectory: dir.mkdir("jobs"))
        #expect(spec.id.numClasses == shape.classes)
        #expect(spec.ood.map(\.name) == SyntheticBenchmark.OODKind.allCases.map(\.rawValue))
    }
}
