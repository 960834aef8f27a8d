#ifndef ADANEG_CONEDNN_SHIM_H
#define ADANEG_CONEDNN_SHIM_H
#include <oneapi/dnnl/dnnl.h>
/* oneDNN is built on OpenMP (libgomp) here; its thread count is the calling thread's OpenMP
   setting, so the products set it before each call. */
void omp_set_num_threads(int);
int omp_get_max_threads(void);
#endif
