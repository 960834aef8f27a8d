/// The bank, parameters, results and metrics live in AdaNegCore so that the coordinator side
/// links no products (Tensor, BLAS); every user of AdaNeg sees them through this re-export.
@_exported import AdaNegCore
