import CUDABackend
import Foundation
import Testing

/// The loader's "not available" paths, device specs and version rules: all without a GPU.
@Suite struct LoaderTests {
    func emptyFolder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-cuda-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    @Test func noDriverInEmptyFoldersSaysWhereItLooked() throws {
        let dir = try emptyFolder()
        do {
            _ = try CUDARuntime(search: .only([dir]))
            Issue.record("a runtime opened from an empty folder")
        } catch {
            guard case let .libraryNotFound(library, tried) = error else { Issue.record("wrong error \(error)"); return }
            #expect(library.contains("libcuda.so.1"))
            #expect(tried.joined().contains(dir))
            #expect(error.description.contains("not found"))
        }
    }

    @Test func aFakeLibraryIsReportedWithTheLinkersReason() throws {
        let dir = try emptyFolder()
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: dir + "/libnvrtc.so.12"))
        let search = LibrarySearch.only([dir])
        #expect(search.candidates(.nvrtc) == [dir + "/libnvrtc.so.12"])
        do {
            _ = try NVRTC(search: search)
            Issue.record("a text file loaded as NVRTC")
        } catch {
            guard case let .libraryNotFound(_, tried) = error else { Issue.record("wrong error \(error)"); return }
            #expect(tried.count == 1 && tried[0].hasPrefix(dir + "/libnvrtc.so.12 ("))
        }
    }

    @Test func overrideVariableIsTheOnlyCandidate() {
        let search = LibrarySearch(environment: ["ADANEG_NVRTC_LIBRARY": "/x/libnvrtc.so.12", "LD_LIBRARY_PATH": "/a:/b"])
        #expect(search.candidates(.nvrtc) == ["/x/libnvrtc.so.12"])
    }

    @Test func searchOrderFollowsTheEnvironmentThenToolkitsThenWheels() {
        let listing: [String: [String]] = [
            "/usr/local": ["cuda-12.4", "bin", "cuda-13.0", "cuda"],
            "/opt": ["torch"],
            "/opt/torch/.venv/lib": ["python3.12"],
            "/opt/torch/.venv/lib/python3.12/site-packages/nvidia": ["cublas", "cuda_nvrtc"],
        ]
        let search = LibrarySearch(environment: ["LD_LIBRARY_PATH": "/first", "CUDA_HOME": "/home/cuda"],
                                   listFolder: { listing[$0] }, fileExists: { _ in false }, includeLinkerDefaults: true,
                                   systemFolders: ["/usr/lib64"])
        let f = search.folders
        func at(_ p: String) -> Int { f.firstIndex(of: p) ?? -1 }
        #expect(f.first == "/first")
        #expect(at("/home/cuda/lib64") < at("/usr/local/cuda/lib64"))
        #expect(at("/usr/local/cuda/lib64") < at("/usr/local/cuda-13.0/lib64"))
        #expect(at("/usr/local/cuda-13.0/targets/x86_64-linux/lib") < at("/usr/local/cuda-12.4/lib64"))
        #expect(at("/usr/local/cuda-12.4/lib64") < at("/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cublas/lib"))
        #expect(at("/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib") < at("/usr/lib64"))
        #expect(!f.contains("/usr/local/bin/lib64"))
        // Nothing exists on disk: only the bare sonames (the dynamic linker's cache) remain.
        #expect(search.candidates(.cublas) == LibrarySearch.Library.cublas.sonames)
    }

    @Test func versionedSonamesNewestFirst() {
        #expect(LibrarySearch.Library.cublasLt.sonames.prefix(2) == ["libcublasLt.so.13", "libcublasLt.so.12"])
        #expect(LibrarySearch.Library.driver.sonames.first == "libcuda.so.1")
    }

    @Test func deviceSpecs() throws {
        #expect(try DeviceChoice.parse("cpu") == .cpu)
        #expect(try DeviceChoice.parse("AUTO") == .auto)
        #expect(try DeviceChoice.parse("cuda") == .cuda(index: 0))
        #expect(try DeviceChoice.parse("cuda:3") == .cuda(index: 3))
        for bad in ["cuda:", "cuda:-1", "cuda:1x", "cuda:+1", "tpu", ""] {
            #expect(throws: GPUError.badDeviceSpec(bad)) { try DeviceChoice.parse(bad) }
        }
    }

    @Test func explicitCudaWithoutDriverThrowsAndAutoFallsBack() throws {
        let search = LibrarySearch.only([try emptyFolder()])
        #expect(throws: GPUError.self) { _ = try DeviceChoice.cuda(index: 0).open(search: search) }
        var notes: [String] = []
        let device = try DeviceChoice.auto.open(search: search) { notes.append($0) }
        #expect(device == nil)
        #expect(notes.count == 1 && notes[0].contains("no usable GPU"))
        #expect(try DeviceChoice.cpu.open(search: search) == nil)
    }

    @Test func errorTexts() {
        #expect(GPUError.deviceOutOfRange(index: 2, count: 1).description.contains("device 2 does not exist: this machine has 1"))
        #expect(GPUError.driverTooOld(driver: 12040, required: 13000).description.contains("CUDA 12.4"))
        #expect(GPUError.outOfMemory(bytes: 10, what: "x").isOutOfMemory)
        #expect(GPUError.cublas(call: "g", status: 3).isOutOfMemory)
        #expect(!GPUError.cublas(call: "g", status: 7).isOutOfMemory)
    }

    @Test func versionRules() throws {
        try CUDARuntime.checkVersions(driver: 13000, cublas: 130_001, nvrtc: 12090)
        #expect(throws: GPUError.driverTooOld(driver: 12080, required: 13000)) {
            try CUDARuntime.checkVersions(driver: 12080, cublas: 130_001, nvrtc: 12090)
        }
        #expect(throws: GPUError.driverTooOld(driver: 12080, required: 13000)) {
            try CUDARuntime.checkVersions(driver: 12080, cublas: 120_900, nvrtc: 13000)
        }
    }

    @Test func batchSizer() {
        #expect(BatchSizer(requested: 7, perItemBytes: 100, freeBytes: 10).size == 7)
        #expect(BatchSizer(requested: nil, perItemBytes: 100, freeBytes: 1000).size == 8)
        #expect(BatchSizer(requested: nil, perItemBytes: 1, freeBytes: 1 << 40).size == 256)
        var b = BatchSizer(requested: 3, perItemBytes: 1, freeBytes: nil)
        let first = b.shrink(), second = b.shrink()
        #expect(first && b.size == 1)
        #expect(!second)
    }
}
