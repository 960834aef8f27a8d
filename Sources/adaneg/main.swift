import AdaNegCLI

// Before anything computes: re-executes on the right OpenBLAS kernel when it fell back to a
// generic one (OpenBLAS reads OPENBLAS_CORETYPE only while it loads).
BLASKernelCheck.ensureRightKernel()
await AdaNegCommand.run()
