/// The plain-Swift numerics (matrices, row kernels, `UnitNorm`) live in TensorCore so that the
/// coordinator side links no BLAS; every user of Tensor sees them through this re-export.
@_exported import TensorCore
