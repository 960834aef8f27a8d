#ifndef ADANEG_CONEDNN_SHIM_H
#define ADANEG_CONEDNN_SHIM_H
#include <oneapi/dnnl/dnnl.h>
/* oneDNN is built on OpenMP (libgomp) here; its thread count is the calling thread's OpenMP
   setting, so the products set it before each call. */
void omp_set_num_threads(int);
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_in_parallel(void);
/* libgomp's entry point for `#pragma omp parallel` (GCC's ABI since 4.9): runs fn(data) on a team
   of num_threads (0: the default), the calling thread as member 0, and returns when all are done.
   Called directly so the kernels between products run on the same OpenMP team as oneDNN. */
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
#endif
