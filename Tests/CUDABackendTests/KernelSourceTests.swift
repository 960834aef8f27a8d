import COpenBLAS
import CUDABackend
import Foundation
import Testing

/// Kernel source sanity, the launch table, the row-major → cuBLAS translation, and (when
/// `ADANEG_NVRTC_LIBRARY` names a libnvrtc) compiling every kernel for sm_90.
@Suite struct KernelSourceTests {
    static let expected = ["adaneg_pixels_to_patches", "adaneg_assemble_tokens", "adaneg_embed_tokens", "adaneg_layernorm",
                           "adaneg_bias_activation", "adaneg_add_bias", "adaneg_split_heads", "adaneg_softmax", "adaneg_merge_heads",
                           "adaneg_gather_rows", "adaneg_l2_normalize", "adaneg_cast_to_lowp", "adaneg_cast_from_lowp"]

    @Test func everyKernelIsInTheSourceOnce() {
        #expect(KernelSource.kernelNames == Self.expected)
        #expect(!KernelSource.text.contains("#include"), "NVRTC is given no include folder")
        let opens = KernelSource.text.filter { $0 == "{" }.count, closes = KernelSource.text.filter { $0 == "}" }.count
        #expect(opens == closes)
    }

    /// The translated arguments, run through column-major sgemm, give the row-major product.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func columnMajorTranslation(_ flags: (Bool, Bool)) {
        let (ta, tb) = flags
        let m = 3, n = 4, k = 5
        let a = (0..<(m * k)).map { Float($0 % 7) - 3 }, b = (0..<(k * n)).map { Float($0 % 5) - 2 }
        let lda = ta ? m : k, ldb = tb ? k : n
        var expected = [Float](repeating: 0, count: m * n), got = expected
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(lda), b, Int32(ldb), 0, &expected, Int32(n))
        let dummy = DeviceBuffer(address: 0, bytes: 0)
        let g = GemmCall(m: m, n: n, k: k, a: GemmOperand(dummy, ld: lda, type: .f32), transA: ta,
                         b: GemmOperand(dummy, ld: ldb, type: .f32), transB: tb, c: GemmOperand(dummy, ld: n, type: .f32))
        let cm = ColumnMajorGemm(g)
        cblas_sgemm(CblasColMajor, cm.transA ? CblasTrans : CblasNoTrans, cm.transB ? CblasTrans : CblasNoTrans,
                    Int32(cm.m), Int32(cm.n), Int32(cm.k), 1, b, Int32(cm.lda), a, Int32(cm.ldb), 0, &got, Int32(cm.ldc))
        #expect(got == expected)
    }

    /// Every kernel compiles for sm_90 through the Swift loader. Runs where ADANEG_NVRTC_LIBRARY
    /// is set (scripts/hardening.sh's `cuda` step sets it to the PyPI wheel's libnvrtc);
    /// ADANEG_REQUIRE_NVRTC=1 makes its absence a failure instead of a recorded skip.
    @Test func kernelsCompileForSm90() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["ADANEG_NVRTC_LIBRARY"] != nil else {
            #expect(env["ADANEG_REQUIRE_NVRTC"] != "1", "ADANEG_REQUIRE_NVRTC=1 but ADANEG_NVRTC_LIBRARY is not set")
            return
        }
        let nvrtc = try NVRTC(search: LibrarySearch())
        #expect(nvrtc.version() >= 11020)
        for precision in LowPrecision.allCases {
            let ptx = try KernelSource.compile(with: nvrtc, architecture: "compute_90", precision: precision)
            let text = String(decoding: ptx.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            #expect(text.contains(".target sm_90"))
            for name in Self.expected { #expect(text.contains(".entry \(name)"), "\(name) missing from the \(precision) PTX") }
        }
        // A broken source names the kernels and carries NVRTC's log.
        do {
            _ = try nvrtc.compile(source: "extern \"C\" __global__ void broken( { }", name: "broken.cu", architecture: "compute_90", kernels: ["broken"])
            Issue.record("broken source compiled")
        } catch {
            #expect(error.description.contains("broken") && error.description.contains("error"))
        }
    }
}
