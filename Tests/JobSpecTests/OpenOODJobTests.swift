import Foundation
import Testing
@testable import JobSpec

@Suite("jobs/openood-v1.5-imagenet.yaml")
struct OpenOODJobTests {
    let jobs = repositoryRoot + "/jobs"

    @Test("OpenOOD v1.5 ImageNet-1k: near-OOD SSB-hard and NINCO, far-OOD iNaturalist, Textures, OpenImage-O, v1.5's lists")
    func structure() throws {
        let spec = try JobSpecLoader.load(path: jobs + "/openood-v1.5-imagenet.yaml", checkFiles: false)
        #expect(spec.name == "openood-v1.5-imagenet")
        #expect(spec.ood.map(\.name) == ["SSB-hard", "NINCO", "iNaturalist", "Textures", "OpenImage-O"])
        #expect(spec.ood.map(\.group) == [.near, .near, .far, .far, .far])
        let lists = repositoryRoot + "/data/benchmark_imglist/imagenet/"
        #expect(spec.id.images == .list(lists + "test_imagenet.txt"))
        let files = ["test_ssb_hard.txt", "test_ninco.txt", "test_inaturalist.txt", "test_textures.txt", "test_openimage_o.txt"]
        #expect(spec.ood.map(\.data.images) == files.map { .list(lists + $0) })
        #expect(spec.preprocessing == Preprocessing(resize: 256, crop: 224))
        #expect(spec.allowOutsideRoot)
    }

    @Test("both benchmark jobs name the model by its Hub id")
    func hubID() throws {
        for file in ["imagenet-1k.yaml", "openood-v1.5-imagenet.yaml"] {
            let text = try String(contentsOfFile: jobs + "/" + file, encoding: .utf8)
            #expect(text.contains("\nmodel: openai/clip-vit-base-patch16"), "\(file)")
        }
    }
}
