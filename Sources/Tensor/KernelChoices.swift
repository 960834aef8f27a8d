/// What runs the towers on this machine, as `doctor` (and `doctor --json`) names it: the
/// library and kernel of each precision's products, whether weights are pre-packed, and the
/// thread pool. Each choice is the one the towers then make, read from the same code paths.
public struct KernelChoices: Codable, Sendable, Equatable {
    /// `oneDNN 2.6.3 brg:avx512_core` or `OpenBLAS Cooperlake` (the towers' fp32 products).
    public var fp32Products: String
    /// `oneDNN 2.6.3 brg:avx512_core_bf16`, or why bf16 products do not run on oneDNN here.
    public var bf16Products: String
    /// The layout the converted-weights cache packs product weights in, per precision
    /// (`packed (BA16a64b2a, brg:…)`), or `plain` where oneDNN would read the plain layout.
    public var fp32Weights: String
    public var bf16Weights: String
    /// Attention: batched oneDNN matmuls per image (softmax in fp32) in the image tower; in the
    /// text tower's trie path a SIMD kernel per node over the path from the root to it.
    public var attention: String
    /// The threads the kernels between products run on (`openmp`: oneDNN's team).
    public var threadPool: String

    /// The choices for this process (creates a few small oneDNN primitives).
    public static func current() -> KernelChoices {
        let dnnl = OneDNNMatmul.shared
        func product(_ e: MatmulOperand.Element) -> String? {
            dnnl.kernel(of: MatmulShape(m: 256, n: 768, k: 768, src: MatmulOperand(e, rowStride: 768),
                                        weights: OneDNNMatmul.transposedWeights(k: 768, e), dst: MatmulOperand(.f32, rowStride: 768),
                                        threads: BLAS.threads))
        }
        func weights(_ e: MatmulOperand.Element) -> String {
            guard let layout = dnnl.packedLayout(n: 768, k: 768, element: e) else { return "plain" }
            return "packed at conversion (\(layout.fingerprint))"
        }
        let fp32 = FP32Products.current == .oneDNN
            ? "oneDNN \(OneDNNMatmul.version) \(product(.f32) ?? "?")" : "OpenBLAS \(BLAS.coreName)"
        let bf16 = dnnl.unavailableReason() ?? "oneDNN \(OneDNNMatmul.version) \(product(.bf16) ?? "?")"
        return KernelChoices(fp32Products: fp32, bf16Products: bf16,
                             fp32Weights: FP32Products.current == .oneDNN ? weights(.f32) : "plain (OpenBLAS)",
                             bf16Weights: dnnl.unavailableReason() == nil ? weights(.bf16) : "plain",
                             attention: "images: oneDNN batched matmuls per image, fp32 softmax" + (FP32Products.current == .oneDNN ? "" : " (fp32: OpenBLAS per head)")
                                 + "; text: a SIMD kernel per trie node over its root path, fp32 softmax and accumulation",
                             threadPool: NeuralKernels.pool == .openMP ? "openmp (one libgomp team: oneDNN and the kernels between products)"
                                                                        : "dispatch (ADANEG_CPU_POOL=dispatch)")
    }

    /// `doctor`'s text lines.
    public var lines: [String] {
        ["fp32:       products \(fp32Products); weights \(fp32Weights)",
         "bf16:       products \(bf16Products); weights \(bf16Weights)",
         "attention:  \(attention)",
         "threads:    \(threadPool)"]
    }
}
