import Foundation

/// Which library runs the towers' fp32 products.
///
/// oneDNN (its `brg:avx512_core` kernels, or its AVX2 ones) where it runs fp32 matmuls: there
/// the towers' fp32 products take the same fused path as bf16 (bias, activation and residual
/// add inside the kernel, attention as batched products, one OpenMP team for everything), which
/// measured faster than OpenBLAS' `sgemm` plus separate passes (BENCHMARKS.md, issue 25). Per
/// product shape the two libraries' kernels were within a few percent of each other on large
/// products, and oneDNN ahead on the short ones (the pooled last layer, prompts). OpenBLAS still
/// runs everything outside the towers (similarities, scoring), and the towers where oneDNN
/// cannot; `ADANEG_FP32_PRODUCTS=openblas` selects it for the towers too (to compare the two).
public enum FP32Products: String, Sendable {
    case oneDNN = "onednn"
    case openBLAS = "openblas"

    /// The choice for this process: the environment's `ADANEG_FP32_PRODUCTS`, else oneDNN where
    /// it runs fp32 products.
    public static let current: FP32Products = {
        if let raw = ProcessInfo.processInfo.environment["ADANEG_FP32_PRODUCTS"], let chosen = FP32Products(rawValue: raw.lowercased()) {
            return chosen == .oneDNN && !OneDNNMatmul.shared.supportsF32 ? .openBLAS : chosen
        }
        return OneDNNMatmul.shared.supportsF32 ? .oneDNN : .openBLAS
    }()
}
