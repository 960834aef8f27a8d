/// The CUDA C source of every non-GEMM kernel (Kernels/kernels.cu, embedded at build time) and
/// the names `CUDADevice` looks up in the compiled module.
public enum KernelSource {
    public static var text: String { String(decoding: PackageResources.kernels_cu, as: UTF8.self) }

    /// Every `extern "C" __global__` kernel of the source, in order of appearance.
    public static var kernelNames: [String] {
        text.components(separatedBy: "extern \"C\" __global__ void ").dropFirst().compactMap { part in
            part.split(separator: "(", maxSplits: 1).first.map(String.init)
        }
    }

    /// The `-D` definitions for a precision.
    public static func defines(_ precision: LowPrecision) -> [String] { precision == .fp16 ? ["ADANEG_FP16"] : [] }

    /// Compiles the source for `architecture` with `nvrtc`, the error naming every kernel.
    public static func compile(with nvrtc: NVRTC, architecture: String, precision: LowPrecision) throws(GPUError) -> [CChar] {
        try nvrtc.compile(source: text, name: "adaneg_kernels.cu", architecture: architecture,
                          defines: defines(precision), kernels: kernelNames)
    }
}
