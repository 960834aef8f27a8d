// The safetensors target compiles Sources/CLIP/Safetensors.swift without the Tensor module: this
// stands in for Tensor's MappedWeights, the result of the zero-copy accessor `mapped(_:as:)`,
// which the target does not call (it parses headers and converts tensors to Float).
public struct MappedWeights {
    public init?(base: UnsafeRawPointer, precision: Precision, owner: AnyObject) { nil }
}
