// The CUDA entry points are resolved at run time (dlopen/dlsym in CUDABackend); this target only
// carries their hand-declared types in include/ccuda.h. This file exists because a C target
// needs one source.
#include "ccuda.h"
