#ifndef ADANEG_COPENBLAS_SHIM_H
#define ADANEG_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
